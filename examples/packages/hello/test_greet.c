/* The hello package's tests: exit 0 when every check holds. */
#include <stdio.h>
#include <string.h>

#include "greet.h"

static int failures = 0;

static void check_greeting(const char *name, const char *want) {
    char got[64];
    greet(got, sizeof got, name);
    if (strcmp(got, want) != 0) {
        printf("FAIL: greet(\"%s\") = \"%s\", want \"%s\"\n", name, got, want);
        failures++;
    }
}

int main(void) {
    check_greeting("world", "hello, world!");
    check_greeting("", "hello, !");
    char small[8];
    if (greet(small, sizeof small, "truncated") != 17 || strcmp(small, "hello, ") != 0) {
        printf("FAIL: a short buffer must hold a truncated, terminated greeting\n");
        failures++;
    }
    if (failures == 0) printf("all greet tests passed\n");
    return failures == 0 ? 0 : 1;
}
