/*
 * A minimal unit test harness: CHECK records a failure with its location
 * and goes on, so one run reports every broken expectation.
 */
#ifndef BLINKCHAT_UNIT_H
#define BLINKCHAT_UNIT_H

#include <stdio.h>
#include <string.h>

extern int unit_checks_failed;

#define CHECK(cond)                                                        \
    do {                                                                   \
        if (!(cond)) {                                                     \
            unit_checks_failed++;                                          \
            fprintf(stderr, "  %s:%d: check failed: %s\n", __FILE__,       \
                    __LINE__, #cond);                                      \
        }                                                                  \
    } while (0)

#define CHECK_STR(actual, expected)                                        \
    do {                                                                   \
        const char *a_ = (actual), *e_ = (expected);                       \
        if (a_ == NULL || strcmp(a_, e_) != 0) {                           \
            unit_checks_failed++;                                          \
            fprintf(stderr, "  %s:%d: expected \"%s\", got \"%s\"\n",      \
                    __FILE__, __LINE__, e_, a_ ? a_ : "(null)");           \
        }                                                                  \
    } while (0)

struct unit_test {
    const char *name;
    void (*run)(void);
};

/* Each test file defines one table, listed in main.c. */
extern const struct unit_test cursor_tests[], text_tests[], session_tests[],
    buf_tests[], request_tests[], router_tests[], cfg_tests[], multipart_tests[];

#endif
