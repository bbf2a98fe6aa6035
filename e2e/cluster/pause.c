/* SPDX-License-Identifier: Apache-2.0 */
/* pause.c -- the pod sandbox's init process for the real-cluster e2e suite.
 *
 * Holds the pod's namespaces open, reaps orphaned children (it is PID 1 when
 * the pod shares its PID namespace) and exits on SIGINT/SIGTERM. Built here so
 * the suite needs no registry image.
 */
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static void on_stop(int sig)
{
	(void)sig;
	_exit(0);
}

static void on_child(int sig)
{
	(void)sig;
	/* Reap every exited child; WNOHANG so the handler never blocks. */
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
}

int main(void)
{
	struct sigaction stop = {.sa_handler = on_stop};
	struct sigaction child = {.sa_handler = on_child, .sa_flags = SA_NOCLDSTOP | SA_RESTART};

	sigemptyset(&stop.sa_mask);
	sigemptyset(&child.sa_mask);
	if (sigaction(SIGINT, &stop, NULL) < 0 || sigaction(SIGTERM, &stop, NULL) < 0 ||
	    sigaction(SIGCHLD, &child, NULL) < 0)
		return 1;
	for (;;)
		pause();
}
