/* broken: the statement below lacks its semicolon on purpose; every compiler rejects it. */
#include <stdio.h>

int main(void) {
    printf("this never builds\n")
    return 0;
}
