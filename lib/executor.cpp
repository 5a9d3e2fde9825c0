#include "dally/executor.hpp"

#include <barrier>
#include <charconv>
#include <latch>
#include <stdexcept>

namespace dally {

Threading Threading::automatic() noexcept {
    unsigned n = std::thread::hardware_concurrency() / 2;
    return Threading(n == 0 ? 1 : n);
}

Threading Threading::all() noexcept {
    unsigned n = std::thread::hardware_concurrency();
    return Threading(n == 0 ? 1 : n);
}

std::optional<Threading> Threading::parse(std::string_view text) noexcept {
    if (text == "single") return single();
    if (text == "auto") return automatic();
    if (text == "all") return all();
    unsigned n = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    if (ec != std::errc() || end != text.data() + text.size() || n < 1 || n > 1024) return std::nullopt;
    return multi(n);
}

// State the worker threads share for one start()..join() cycle.
struct Executor::Shared {
    explicit Shared(std::size_t n) : ready(static_cast<std::ptrdiff_t>(n)), phase(static_cast<std::ptrdiff_t>(n)) {}
    std::latch ready;
    std::barrier<> phase;
    std::mutex error_mutex;
    std::exception_ptr error;
    std::atomic<bool> failed{false};
};

Executor::Executor(ExecutorOptions options) : m_options(options) {}

Executor::~Executor() {
    stop();
    try {
        join();
    } catch (...) {
        // A setup error nobody asked for; the destructor must not throw.
    }
}

void Executor::on_idle(void* self) noexcept { static_cast<Executor*>(self)->stop(); }

void Executor::stop() noexcept {
    std::lock_guard lock(m_mutex);
    for (auto& rt : m_runtimes) {
        if (rt) rt->stop();
    }
}

void Executor::run(Entry entry) { launch(std::move(entry), true); }

void Executor::start(Entry entry) { launch(std::move(entry), false); }

void Executor::launch(Entry entry, bool blocking) {
    if (m_started) throw std::logic_error("dally: Executor already started; stop() and join() first");
    const std::size_t n = size();
    m_started = true;
    m_live.store(0);
    m_runtimes.clear();
    m_runtimes.resize(n);
    auto shared = std::make_shared<Shared>(n);
    m_shared = shared;

    auto body = [this, shared, entry, blocking](std::size_t i) {
        Runtime* rt = nullptr;
        try {
            auto owned = std::make_unique<Runtime>(m_options.runtime);
            rt = owned.get();
            if (blocking) rt->set_task_counter(&m_live, &Executor::on_idle, this);
            {
                std::lock_guard lock(m_mutex);
                m_runtimes[i] = std::move(owned);
            }
            (void)rt->spawn(entry(*rt));
        } catch (...) {
            std::lock_guard lock(shared->error_mutex);
            if (!shared->error) shared->error = std::current_exception();
            shared->failed.store(true);
        }
        shared->ready.arrive_and_wait();
        if (rt != nullptr && !shared->failed.load()) {
            try {
                rt->run();
            } catch (...) {
                std::lock_guard lock(shared->error_mutex);
                if (!shared->error) shared->error = std::current_exception();
                stop();
            }
        }
        // Every runtime leaves its loop before any cancels; all cancel and drain before any
        // destroys tasks, since a task on one runtime may own a handle to one on another.
        shared->phase.arrive_and_wait();
        if (rt != nullptr) rt->drain();
        shared->phase.arrive_and_wait();
        if (rt != nullptr) rt->destroy_tasks();
        shared->phase.arrive_and_wait();
    };

    m_threads.clear();
    for (std::size_t i = blocking ? 1 : 0; i < n; ++i) m_threads.emplace_back(body, i);
    if (blocking) {
        body(0);
        join();
    } else {
        shared->ready.wait();
        if (shared->failed.load()) join();
    }
}

void Executor::join() {
    for (auto& t : m_threads) {
        if (t.joinable()) t.join();
    }
    m_threads.clear();
    std::exception_ptr error;
    {
        std::lock_guard lock(m_mutex);
        m_runtimes.clear();
        m_started = false;
        if (m_shared) error = std::exchange(m_shared->error, nullptr);
        m_shared.reset();
    }
    if (error) std::rethrow_exception(error);
}

}  // namespace dally
