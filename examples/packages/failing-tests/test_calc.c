/* The calc package's tests: the second assertion fails, so this exits 1. */
#include <stdio.h>

#include "calc.h"

static int failures = 0;

#define CHECK_EQ(expr, want)                                                              \
    do {                                                                                  \
        int got_ = (expr);                                                                \
        if (got_ != (want)) {                                                             \
            printf("%s:%d: assertion failed: %s == %d (got %d)\n", __FILE__, __LINE__, #expr, \
                   (want), got_);                                                         \
            failures++;                                                                   \
        } else {                                                                          \
            printf("ok: %s == %d\n", #expr, (want));                                      \
        }                                                                                 \
    } while (0)

int main(void) {
    CHECK_EQ(add(2, 2), 4);
    CHECK_EQ(add(2, 3), 5);
    printf("%d test(s) failed\n", failures);
    return failures == 0 ? 0 : 1;
}
