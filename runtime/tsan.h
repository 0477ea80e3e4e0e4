/*
 * Happens-before edges that ThreadSanitizer cannot see by itself.
 *
 * libzmq is not instrumented, so TSan does not see that a message written
 * on one actor's thread and sent over inproc is read on another only after
 * the hop. The mailbox wrapper says so explicitly: release on the message's
 * address before the send, acquire on it after the receive (and in the free
 * function, which libzmq may run on yet another thread). This keeps TSan
 * reporting real races in floe's own memory instead of suppressing them.
 *
 * CMake defines FLOE_SANITIZE_THREAD in TSan builds; elsewhere these
 * compile to nothing.
 */
#ifndef FLOE_RUNTIME_TSAN_H
#define FLOE_RUNTIME_TSAN_H

#ifdef FLOE_SANITIZE_THREAD
#include <sanitizer/tsan_interface.h>
#define FLOE_TSAN_RELEASE(addr) __tsan_release((void *)(addr))
#define FLOE_TSAN_ACQUIRE(addr) __tsan_acquire((void *)(addr))
#else
#define FLOE_TSAN_RELEASE(addr) ((void)(addr))
#define FLOE_TSAN_ACQUIRE(addr) ((void)(addr))
#endif

#endif
