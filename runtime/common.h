/* Project-wide macros: visibility, unused-result checks, branch hints. */
#ifndef FLOE_RUNTIME_COMMON_H
#define FLOE_RUNTIME_COMMON_H

#define FLOE_EXPORT __attribute__((visibility("default")))
/* Predicates and crypto checks whose result must be looked at (WG __must_check). */
#define FLOE_MUST_CHECK __attribute__((warn_unused_result))
#define FLOE_LIKELY(x) __builtin_expect(!!(x), 1)
#define FLOE_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define FLOE_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif
