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

#include <initializer_list>
#include <vector>

#include "dally/result.hpp"
#include "dally/task.hpp"

namespace dally {

// Suspends until one of `signals` arrives; yields its number. invalid_argument for
// SIGKILL, SIGSTOP or a number out of range.
Task<Result<int>> wait_signal(std::vector<int> signals);
inline Task<Result<int>> wait_signal(std::initializer_list<int> signals) {
    return wait_signal(std::vector<int>(signals));
}

}  // namespace dally
