/* SPDX-License-Identifier: Apache-2.0 */
/* kubeconfig_int.h -- shared by kubeconfig.c and kubeconfig_yaml.c. */
#ifndef PODPROF_KUBECONFIG_INT_H
#define PODPROF_KUBECONFIG_INT_H

#include <stddef.h>

/* printf into errbuf (errlen bytes); nothing when errbuf is NULL. */
void kubeconfig_set_err(char *errbuf, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
