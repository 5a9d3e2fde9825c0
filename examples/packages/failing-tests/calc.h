/* calc.h: integer arithmetic with a bug for the tests to find. */
#ifndef CALC_H
#define CALC_H

int add(int a, int b);

#endif
