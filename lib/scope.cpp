#include "dally/scope.hpp"

#include <cstdio>

namespace dally {
namespace detail {

namespace {
void report_extra(const std::exception_ptr& e) noexcept {
    report_exception("Scope child failed (join() rethrows an earlier one)", e);
}
}  // namespace

void ScopeState::finish(std::exception_ptr e) noexcept {
    WakeList woken;
    bool extra = false;
    {
        std::lock_guard lock(mutex);
        if (e) {
            if (error) {
                extra = true;
            } else {
                error = e;
            }
        }
        if (--active == 0) woken = joiners.take_all();
    }
    if (extra) report_extra(e);
    woken.wake_all();
}

}  // namespace detail

Scope::Scope() : m_state(std::make_shared<detail::ScopeState>()) {}

Scope::~Scope() {
    std::size_t running = active();
    if (running != 0) {
        std::fprintf(stderr,
                     "dally: Scope destroyed with %zu child task(s) still running and no "
                     "co_await join(): cancelling and detaching them\n",
                     running);
        m_state->source.cancel();
    }
}

std::size_t Scope::active() const noexcept {
    std::lock_guard lock(m_state->mutex);
    return m_state->active;
}

bool Scope::JoinAwaiter::suspend(std::coroutine_handle<> h, detail::TaskRoot* task) {
    std::lock_guard lock(scope->mutex);
    if (scope->active == 0) return false;
    return park(scope->joiners, h, task, &unpark_joiner, "co_await Scope::join");
}

bool Scope::JoinAwaiter::unpark_joiner(detail::Waiter& w) noexcept {
    detail::ScopeState& s = *static_cast<JoinAwaiter&>(w).scope;
    std::lock_guard lock(s.mutex);
    return s.joiners.remove(&w);
}

Result<void> Scope::JoinAwaiter::await_resume() {
    if (finish()) return detail::cancelled_error();
    std::exception_ptr e;
    {
        std::lock_guard lock(scope->mutex);
        e = std::exchange(scope->error, nullptr);
    }
    if (e) std::rethrow_exception(e);
    return {};
}

}  // namespace dally
