#include "backend/backend.hpp"

#include <cerrno>

namespace dally::detail {

std::unique_ptr<Backend> make_backend(Runtime& rt, const RuntimeOptions& options) {
    return make_io_uring_backend(rt, options);
}

void deliver(Runtime& rt, Op& op, int res, std::uint32_t flags, bool more, bool link_timeout) {
    if (link_timeout) {
        if (res == -ETIME) op.timed_out = true;
    } else if (op.handler != nullptr) {
        op.handler(op, res, flags, more);
        return;
    } else if (op.step != nullptr && op.step(op, res)) {
        --op.pending;  // resubmitted: this completion was a step, not the end
        return;
    } else {
        op.res = res;
    }
    if (--op.pending != 0) return;
    if (op.root != nullptr && op.root->current_op == &op) op.root->current_op = nullptr;
    rt.schedule(op.waiter);
}

}  // namespace dally::detail
