// Links against an installed dally and runs one task to completion: exits 0 when the
// headers, the library and its dependencies all resolved. Built by tests/consumer/check.cmake.
#include <dally/dally.hpp>

int main() {
    dally::Runtime rt;
    int v = rt.block_on([]() -> dally::Task<int> { co_return 42; }());
    return v == 42 ? 0 : 1;
}
