/* SPDX-License-Identifier: Apache-2.0 */
/* unwlib.c -- a shared library for the unwinder tests (built without frame
 * pointers); linked by `unwind lib`, dlopen'd by `unwind dlopen` (as dl_*). */
extern volatile unsigned long sink;

#ifdef DL
#define LIB_LEAF   dl_leaf
#define LIB_MIDDLE dl_middle
#else
#define LIB_LEAF   lib_leaf
#define LIB_MIDDLE lib_middle
#endif

__attribute__((noinline)) void LIB_LEAF(unsigned long n)
{
	for (unsigned long i = 0; i < n; i++)
		sink += i ^ (i >> 3);
}

__attribute__((noinline)) void LIB_MIDDLE(unsigned long n)
{
	volatile char buf[32];

	buf[0] = (char)n;
	LIB_LEAF(n + (unsigned long)buf[0] % 2);
	sink++;
}
