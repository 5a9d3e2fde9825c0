#include "services.hpp"

#include <fmt/format.h>

#include <cstdio>
#include <ctime>

namespace mud {

Worker::Worker(unsigned threads) {
    for (unsigned i = 0; i < threads; ++i) m_threads.emplace_back([this] { loop(); });
}

Worker::~Worker() {
    {
        std::lock_guard lock(m_mutex);
        m_stop = true;
    }
    m_cv.notify_all();
    for (auto& t : m_threads) t.join();
}

void Worker::post(std::function<void()> job) {
    {
        std::lock_guard lock(m_mutex);
        m_jobs.push_back(std::move(job));
    }
    m_cv.notify_one();
}

void Worker::drain() {
    std::unique_lock lock(m_mutex);
    m_idle.wait(lock, [&] { return m_jobs.empty() && m_running == 0; });
}

void Worker::loop() {
    std::unique_lock lock(m_mutex);
    for (;;) {
        m_cv.wait(lock, [&] { return m_stop || !m_jobs.empty(); });
        if (m_jobs.empty()) return;  // stopping, and nothing left to run
        auto job = std::move(m_jobs.front());
        m_jobs.pop_front();
        ++m_running;
        lock.unlock();
        job();
        lock.lock();
        --m_running;
        if (m_jobs.empty() && m_running == 0) m_idle.notify_all();
    }
}

namespace {

std::int64_t unix_now() { return static_cast<std::int64_t>(std::time(nullptr)); }

}  // namespace

Services::Services(const std::filesystem::path& db_file, HashCost cost, unsigned hash_threads, ServiceCallbacks callbacks)
    : m_store(std::make_unique<Store>(db_file)),
      m_cost(cost),
      m_callbacks(std::move(callbacks)),
      m_hash(hash_threads),
      m_db(1) {
    init_crypto();
    m_dummy_hash = hash_password("not-a-real-password", cost);
}

Services::~Services() { drain(); }

void Services::login(SessionId session, std::string name, std::string password) {
    // Read on the database thread (after any save queued before), check on the hash pool.
    m_db.post([this, session, name = std::move(name), password = std::move(password)]() mutable {
        LoginResult r;
        r.session = session;
        try {
            auto account = m_store->find_account(name);
            auto character = account ? m_store->load_character(name) : std::nullopt;
            if (!account || !character) {
                r.outcome = LoginResult::Outcome::bad_credentials;
                // Same cost as a real check, so timing doesn't tell which names exist.
                m_hash.post([this, r = std::move(r), password = std::move(password)]() mutable {
                    (void)verify_password(m_dummy_hash, password);
                    m_callbacks.login_done(std::move(r));
                });
                return;
            }
            r.account = std::move(*account);
            r.character = std::move(*character);
            if (r.account.banned) {
                r.outcome = LoginResult::Outcome::banned;
                r.message = r.account.ban_reason;
                m_callbacks.login_done(std::move(r));
                return;
            }
        } catch (const std::exception& e) {
            std::fprintf(stderr, "mud_server: login lookup failed: %s\n", e.what());
            r.outcome = LoginResult::Outcome::error;
            m_callbacks.login_done(std::move(r));
            return;
        }
        m_hash.post([this, r = std::move(r), password = std::move(password)]() mutable {
            bool ok = verify_password(r.account.password_hash, password);
            r.outcome = ok ? LoginResult::Outcome::ok : LoginResult::Outcome::bad_credentials;
            if (ok) {
                std::string name = r.account.name;
                m_db.post([this, name] {
                    try {
                        m_store->set_last_login(name, unix_now());
                    } catch (const std::exception& e) {
                        std::fprintf(stderr, "mud_server: set_last_login: %s\n", e.what());
                    }
                });
            }
            m_callbacks.login_done(std::move(r));
        });
    });
}

void Services::create(SessionId session, AccountRecord account, CharacterRecord character, std::string password) {
    m_hash.post([this, session, account = std::move(account), character = std::move(character),
                 password = std::move(password)]() mutable {
        CreateResult r;
        r.session = session;
        try {
            account.password_hash = hash_password(password, m_cost);
        } catch (const std::exception& e) {
            std::fprintf(stderr, "mud_server: hashing failed: %s\n", e.what());
            r.outcome = CreateResult::Outcome::error;
            m_callbacks.create_done(std::move(r));
            return;
        }
        account.created_at = account.last_login = unix_now();
        m_db.post([this, r = std::move(r), account = std::move(account), character = std::move(character)]() mutable {
            try {
                r.outcome = m_store->create_account(account, character) ? CreateResult::Outcome::ok
                                                                        : CreateResult::Outcome::name_taken;
            } catch (const std::exception& e) {
                std::fprintf(stderr, "mud_server: create_account failed: %s\n", e.what());
                r.outcome = CreateResult::Outcome::error;
            }
            r.account = std::move(account);
            r.character = std::move(character);
            m_callbacks.create_done(std::move(r));
        });
    });
}

void Services::save(std::vector<CharacterRecord> characters) {
    m_db.post([this, characters = std::move(characters)] {
        try {
            m_store->save_characters(characters);
            m_saved += characters.size();
        } catch (const std::exception& e) {
            ++m_save_errors;
            std::fprintf(stderr, "mud_server: saving %zu characters failed: %s\n", characters.size(), e.what());
        }
    });
}

void Services::set_banned(std::string name, bool banned, std::string reason) {
    m_db.post([this, name = std::move(name), banned, reason = std::move(reason)] {
        try {
            m_store->set_banned(name, banned, reason);
        } catch (const std::exception& e) {
            std::fprintf(stderr, "mud_server: set_banned: %s\n", e.what());
        }
    });
}

void Services::drain() {
    // A login may go db -> hash -> db: drain until both are quiet.
    for (int i = 0; i < 3; ++i) {
        m_db.drain();
        m_hash.drain();
    }
}

}  // namespace mud
