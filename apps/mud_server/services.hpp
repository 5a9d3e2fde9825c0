// services.hpp: the game's off-thread work. A database thread owns the Store and runs its
// jobs in order (so a logout's save lands before the next login's read); a small pool
// hashes and checks passwords (argon2id is slow by design). Results are handed back
// through the callbacks, on the worker's thread: the server pushes them into the game's
// inbox. Every job is kept until it ran: the destructor drains both queues.
#pragma once

#include "auth.hpp"
#include "game.hpp"
#include "store.hpp"

#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

namespace mud {

// Threads that run queued jobs in FIFO order (in parallel when there are several).
class Worker {
public:
    explicit Worker(unsigned threads);
    ~Worker();  // runs what is queued, then joins
    Worker(const Worker&) = delete;
    Worker& operator=(const Worker&) = delete;
    void post(std::function<void()> job);
    // Blocks until every job posted before the call has finished.
    void drain();

private:
    void loop();
    std::mutex m_mutex;
    std::condition_variable m_cv;
    std::condition_variable m_idle;
    std::deque<std::function<void()>> m_jobs;
    std::size_t m_running = 0;
    bool m_stop = false;
    std::vector<std::thread> m_threads;
};

struct ServiceCallbacks {
    std::function<void(LoginResult)> login_done;
    std::function<void(CreateResult)> create_done;
};

class Services {
public:
    // Opens the store (throws StoreError) and hashes a dummy password once (see login()).
    Services(const std::filesystem::path& db_file, HashCost cost, unsigned hash_threads, ServiceCallbacks callbacks);
    ~Services();  // drains: every queued save is written
    void login(SessionId session, std::string name, std::string password);
    void create(SessionId session, AccountRecord account, CharacterRecord character, std::string password);
    void save(std::vector<CharacterRecord> characters);
    void set_banned(std::string name, bool banned, std::string reason);
    // Waits until every job posted so far is done (shutdown: the last saves are on disk).
    void drain();
    // Counters for /metrics (any thread).
    std::uint64_t save_errors() const noexcept { return m_save_errors.load(); }
    std::uint64_t saved_total() const noexcept { return m_saved.load(); }

private:
    std::unique_ptr<Store> m_store;  // only touched on m_db's thread
    HashCost m_cost;
    ServiceCallbacks m_callbacks;
    std::atomic<std::uint64_t> m_save_errors{0};
    std::atomic<std::uint64_t> m_saved{0};
    std::string m_dummy_hash;  // checked against for unknown names, so timing doesn't tell
    Worker m_hash;
    Worker m_db;
};

}  // namespace mud
