// dally/signal.hpp: waiting for POSIX signals in a task, for graceful shutdown.
//
//     int sig = (co_await dally::wait_signal({SIGINT, SIGTERM})).value();
//
// The wait is a read of a signalfd through the ring, so it suspends only the task. The
// first call for a signal installs a small forwarding handler: whichever thread the
// kernel picks for that signal blocks it for itself and re-raises it, until every thread
// blocks it and the signal stays pending for the signalfd. So it works whatever the
// threads' signal masks were (no "block it in main before starting threads" rule).
// From then on the signal no longer kills the process: each delivery waits for (or
// completes) a wait_signal call. One delivery completes one waiter; to tell many tasks,
// fan it out yourself (a CancelSource, an Event). Cancellable like any I/O.
#pragma once

#include <concepts>
#include <cstdint>

#include "dally/result.hpp"
#include "dally/task.hpp"

namespace dally {

// A set of signal numbers (1..64), built from a braced list: {SIGINT, SIGTERM}. (A class
// rather than std::initializer_list, which GCC 12 cannot keep alive across a co_await.)
class SignalSet {
public:
    template <std::convertible_to<int>... S>
    SignalSet(S... signals) noexcept {
        (add(static_cast<int>(signals)), ...);
    }
    bool contains(int sig) const noexcept { return sig >= 1 && sig <= 64 && (m_bits >> (sig - 1)) & 1U; }
    bool empty() const noexcept { return m_bits == 0; }
    // False if a number was out of range.
    bool valid() const noexcept { return m_valid; }

private:
    void add(int sig) noexcept {
        if (sig >= 1 && sig <= 64) {
            m_bits |= std::uint64_t{1} << (sig - 1);
        } else {
            m_valid = false;
        }
    }
    std::uint64_t m_bits = 0;
    bool m_valid = true;
};

// Suspends until one of `signals` arrives; yields its number. invalid_argument for an
// empty set, SIGKILL, SIGSTOP or a number out of range.
Task<Result<int>> wait_signal(SignalSet signals);

}  // namespace dally
