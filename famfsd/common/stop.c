// SPDX-License-Identifier: GPL-2.0-or-later
/* Process-wide stop requests (stop.h). */
#include <signal.h>
#include <stdatomic.h>
#include <unistd.h>

#include "common/stop.h"

static atomic_int stop_code;
static atomic_bool stop_flag;

void stop_request(int code)
{
	int zero = 0;

	atomic_compare_exchange_strong(&stop_code, &zero, code);
	atomic_store(&stop_flag, true);
	kill(getpid(), SIGTERM);
}

bool stop_requested(void)
{
	return atomic_load(&stop_flag);
}

int stop_exit_code(void)
{
	return atomic_load(&stop_code);
}
