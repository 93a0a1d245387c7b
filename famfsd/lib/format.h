/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The pool format for userspace. The layout itself is defined once, in
 * kmod/uapi/famfsd_format.h, which the kernel module includes too: one
 * definition, so the two sides cannot drift apart.
 */
#ifndef FAMFSD_FORMAT_H
#define FAMFSD_FORMAT_H

#include <endian.h>
#include <stdint.h>

#include "famfsd_format.h"

#endif /* FAMFSD_FORMAT_H */
