/* Runs every unit test table and prints "N passed, N failed". */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>

#include "unit.h"

int unit_checks_failed;

static const struct unit_test *const tables[] = {
    cfg_tests, cursor_tests, text_tests, session_tests, buf_tests, request_tests, router_tests,
    multipart_tests,
};

int main(void)
{
    int passed = 0, failed = 0;

    setenv("BLINKCHAT_JWT_SECRET", "unit-test-secret-unit-test-secret-0123", 1);
    for (size_t t = 0; t < sizeof(tables) / sizeof(tables[0]); t++) {
        for (const struct unit_test *test = tables[t]; test->name != NULL; test++) {
            int before = unit_checks_failed;

            test->run();
            if (unit_checks_failed == before) {
                passed++;
                printf("ok   %s\n", test->name);
            } else {
                failed++;
                printf("FAIL %s\n", test->name);
            }
        }
    }
    printf("unit: %d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
