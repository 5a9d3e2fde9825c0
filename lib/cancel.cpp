#include "dally/cancel.hpp"

#include <algorithm>
#include <mutex>
#include <vector>

namespace dally {
namespace detail {

// Tasks remove themselves when they finish (under the mutex), so every pointer in `tasks`
// is a live frame while the mutex is held.
struct CancelState {
    std::mutex mutex;
    bool cancelled = false;
    std::vector<TaskRoot*> tasks;
};

void cancel_state_add(const std::shared_ptr<CancelState>& s, TaskRoot& root) noexcept {
    bool now = false;
    {
        std::lock_guard lock(s->mutex);
        if (s->cancelled) {
            now = true;
        } else {
            s->tasks.push_back(&root);
            root.source = s;
        }
    }
    if (now) root.cancel_requested.store(true, std::memory_order_release);
}

void cancel_state_remove(TaskRoot& root) noexcept {
    // Keeps the state alive past the unlock when the task held the last reference.
    std::shared_ptr<CancelState> s = std::move(root.source);
    std::lock_guard lock(s->mutex);
    auto it = std::find(s->tasks.begin(), s->tasks.end(), &root);
    if (it != s->tasks.end()) {
        *it = s->tasks.back();
        s->tasks.pop_back();
    }
}

}  // namespace detail

bool CancelToken::cancelled() const noexcept {
    if (!m_state) return false;
    std::lock_guard lock(m_state->mutex);
    return m_state->cancelled;
}

CancelSource::CancelSource() : m_state(std::make_shared<detail::CancelState>()) {}

void CancelSource::cancel() noexcept {
    std::lock_guard lock(m_state->mutex);
    if (m_state->cancelled) return;
    m_state->cancelled = true;
    for (detail::TaskRoot* r : m_state->tasks) detail::root_request_cancel(*r);
}

bool CancelSource::cancelled() const noexcept { return CancelToken(m_state).cancelled(); }

}  // namespace dally
