/* hello: prints a greeting and which compiler built it (so each toolchain's log differs). */
#include <stdio.h>

#include "greet.h"

int main(int argc, char **argv) {
    char line[128];
    greet(line, sizeof line, argc > 1 ? argv[1] : "world");
#if defined(__clang__)
    printf("%s (built by clang %d.%d.%d)\n", line, __clang_major__, __clang_minor__, __clang_patchlevel__);
#elif defined(__GNUC__)
    printf("%s (built by gcc %s)\n", line, __VERSION__);
#else
    printf("%s\n", line);
#endif
    return 0;
}
