/* greet.h: formats a greeting into a caller's buffer. */
#ifndef GREET_H
#define GREET_H
#include <stddef.h>

/* Writes "hello, <name>!" into out (at most size bytes, NUL included); returns its length. */
int greet(char *out, size_t size, const char *name);

#endif
