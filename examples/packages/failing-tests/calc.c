#include "calc.h"

/* The bug the tests catch: multiplies instead of adding (right for 2 + 2 only). */
int add(int a, int b) { return a * b; }
