// runner.cpp: queue, scheduling and result recording. Everything here runs on the runner's
// runtime, so the in-memory state (m_active, m_queue, slots) needs no lock; the store is
// written synchronously (a commit is a few tens of microseconds in WAL mode) so that a
// state is durable before anyone is told about it.
#include "runner.hpp"

#include "validate.hpp"
#include "views.hpp"

#include <dally/time.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <system_error>

namespace br {

struct Runner::Active {
    BuildRecord rec;
    const Toolchain* tc = nullptr;
    dally::Event cancel;            // set: the executor stops the build
    bool cancel_requested = false;  // by a user (else a shutdown)
    bool has_slot = false;
    unsigned slot = 0;
    int log_fd = -1;
    std::int64_t log_kept = 0;  // bytes in the log file
};

namespace {

std::string human_bytes(std::uint64_t n) {
    if (n >= (1ull << 30) && n % (1ull << 30) == 0) return fmt::format("{} GiB", n >> 30);
    if (n >= (1ull << 20)) return fmt::format("{} MiB", n >> 20);
    return fmt::format("{} bytes", n);
}

bool cacheable(BuildState s) { return s == BuildState::passed || s == BuildState::failed; }

}  // namespace

// The executor's view of one running build.
class RunnerSink final : public BuildSink {
public:
    RunnerSink(std::function<void(BuildState)> phase, std::function<void(std::string_view)> output,
               std::function<void(const std::string&, const std::string&)> handle)
        : m_phase(std::move(phase)), m_output(std::move(output)), m_handle(std::move(handle)) {}
    void phase(BuildState state) override { m_phase(state); }
    void output(std::string_view bytes) override { m_output(bytes); }
    void handle(const std::string& job_id, const std::string& ref) override { m_handle(job_id, ref); }

private:
    std::function<void(BuildState)> m_phase;
    std::function<void(std::string_view)> m_output;
    std::function<void(const std::string&, const std::string&)> m_handle;
};

Runner::Runner(RunnerOptions options, std::vector<Toolchain> toolchains, Store& store, BuildExecutor& executor,
               Resolver resolver, EventHub& hub)
    : m_options(std::move(options)),
      m_toolchains(std::move(toolchains)),
      m_store(store),
      m_executor(executor),
      m_resolver(std::move(resolver)),
      m_hub(hub),
      m_slot_busy(std::max(1u, m_options.concurrency), false) {
    std::filesystem::create_directories(m_options.data_dir / "logs");
    std::filesystem::create_directories(m_options.data_dir / "work");
}

Runner::~Runner() {
    for (auto& [id, a] : m_active) {
        if (a->log_fd >= 0) ::close(a->log_fd);
    }
}

const Toolchain* Runner::toolchain(const std::string& name) const {
    for (const Toolchain& t : m_toolchains) {
        if (t.name == name) return &t;
    }
    return nullptr;
}

std::filesystem::path Runner::log_path(std::int64_t build_id) const {
    return m_options.data_dir / "logs" / fmt::format("{}.log", build_id);
}

void Runner::record(BuildRecord& b) { m_store.update_build(b); }

void Runner::publish(std::string_view type, const BuildRecord& b) {
    m_hub.publish(b.package_id, b.id, type, build_event(type, b));
}

// ---- start and stop -------------------------------------------------------------------

void Runner::start() {
    // Workspaces of builds that were running when the process died: nothing in them is
    // needed (the build starts over), and they may be large.
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(m_options.data_dir / "work", ec)) {
        std::filesystem::remove_all(entry.path(), ec);
    }
    std::vector<BuildRecord> unfinished = m_store.unfinished_builds();
    std::vector<std::int64_t> reattach;
    for (BuildRecord& b : unfinished) {
        if (b.state != BuildState::queued && !b.executor_ref.empty() && m_executor.detachable() &&
            toolchain(b.toolchain) != nullptr) {
            // Still running elsewhere (a Slurm job): follow it instead of starting it again.
            reattach.push_back(b.id);
        } else if (b.state != BuildState::queued) {
            b.state = BuildState::queued;
            b.started_ms = 0;
            b.job_id.clear();
            b.executor_ref.clear();
            record(b);
        }
        auto a = std::make_unique<Active>();
        a->tc = toolchain(b.toolchain);
        a->rec = b;
        m_active.emplace(b.id, std::move(a));
    }
    for (BuildRecord& b : unfinished) {
        Active& a = *m_active.at(b.id);
        if (std::find(reattach.begin(), reattach.end(), b.id) != reattach.end()) continue;
        if (a.tc == nullptr) {
            // The toolchain was removed from the config since: nothing can run this build.
            a.rec.reason = fmt::format("toolchain {} is no longer configured", b.toolchain);
            finish(a, BuildState::error);
            continue;
        }
        if (b.duplicate_of && m_active.count(*b.duplicate_of) == 0) {
            // Its original finished in the previous run, before this one was settled.
            if (auto original = m_store.build(*b.duplicate_of)) {
                settle_duplicates(*original);
                continue;
            }
            a.rec.duplicate_of.reset();
            record(a.rec);
        }
        if (!a.rec.duplicate_of) enqueue(a.rec);
    }
    for (std::int64_t id : reattach) {
        Active& a = *m_active.at(id);
        // A slot of its own even beyond the limit (concurrency was lowered since): slots past
        // `concurrency` are never handed out by pump(), so the excess ends with these builds.
        auto free = std::find(m_slot_busy.begin(), m_slot_busy.end(), false);
        if (free == m_slot_busy.end()) free = m_slot_busy.insert(m_slot_busy.end(), false);
        *free = true;
        a.has_slot = true;
        a.slot = static_cast<unsigned>(free - m_slot_busy.begin());
        m_tasks.spawn(run_build(id, a.slot, true));
    }
    pump();
}

dally::Task<void> Runner::shutdown() {
    m_stopping = true;
    m_timers.cancel();
    if (m_executor.detachable()) {
        m_executor.detach();  // its builds go on; the next start re-attaches to them
    } else {
        for (auto& [id, a] : m_active) {
            if (a->has_slot) a->cancel.set();
        }
    }
    (void)co_await m_tasks.join();
    (void)co_await m_timers.join();
}

// ---- submissions ------------------------------------------------------------------------

PackageRecord Runner::submit(const Submission& s, std::vector<BuildRecord>& builds_out) {
    if (auto e = check_package_name(s.name); !e.empty()) throw RequestError(400, e, "name");
    if (auto e = check_repo_url(s.repo_url); !e.empty()) throw RequestError(400, e, "repo_url");
    if (auto e = check_ref(s.ref); !e.empty()) throw RequestError(400, e, "ref");
    if (auto e = check_priority(s.priority); !e.empty()) throw RequestError(400, e, "priority");
    if (m_stopping) throw RequestError(503, "build_runner is shutting down");

    std::vector<const Toolchain*> chosen;
    if (s.toolchains.empty()) {
        for (const Toolchain& t : m_toolchains) chosen.push_back(&t);
    } else {
        for (const std::string& name : s.toolchains) {
            const Toolchain* t = toolchain(name);
            if (t == nullptr) throw RequestError(400, fmt::format("unknown toolchain '{}'", name), "toolchains");
            if (std::find(chosen.begin(), chosen.end(), t) != chosen.end()) {
                throw RequestError(400, fmt::format("toolchain '{}' is listed twice", name), "toolchains");
            }
            chosen.push_back(t);
        }
    }
    if (chosen.empty()) throw RequestError(400, "no toolchains are configured", "toolchains");

    std::vector<NewBuild> news;
    for (const Toolchain* t : chosen) {
        NewBuild nb{t->name, t->steps_hash(), std::nullopt};
        if (auto dup = m_store.find_unfinished_duplicate(s.repo_url, s.ref, t->name, nb.steps_hash)) {
            nb.duplicate_of = dup->id;
        }
        news.push_back(std::move(nb));
    }
    PackageRecord pkg{0, s.name, s.repo_url, s.ref, s.priority, now_ms()};
    Store::Submitted done = m_store.submit(pkg, news);
    pkg.id = done.package_id;
    ++m_submissions;

    builds_out.clear();
    for (std::int64_t id : done.build_ids) {
        auto b = m_store.build(id);
        if (!b) throw std::runtime_error(fmt::format("build {} vanished right after it was stored", id));
        auto a = std::make_unique<Active>();
        a->tc = toolchain(b->toolchain);
        a->rec = *b;
        m_active.emplace(id, std::move(a));
        builds_out.push_back(*b);
    }
    m_hub.publish(pkg.id, 0, "submitted", package_event(pkg, builds_out));
    for (const BuildRecord& b : builds_out) {
        publish("queued", b);
        if (!b.duplicate_of) enqueue(b);
    }
    pump();
    // Builds may have started (or been served from the cache) synchronously: report them
    // as they are now.
    for (BuildRecord& b : builds_out) {
        if (auto it = m_active.find(b.id); it != m_active.end()) b = it->second->rec;
    }
    return pkg;
}

bool Runner::cancel(std::int64_t build_id) {
    auto it = m_active.find(build_id);
    if (it == m_active.end()) {
        auto b = m_store.build(build_id);
        if (!b) throw RequestError(404, fmt::format("no build {}", build_id));
        throw RequestError(409, fmt::format("build {} already finished ({})", build_id, to_string(b->state)));
    }
    Active& a = *it->second;
    if (a.has_slot) {
        a.cancel_requested = true;
        a.cancel.set();
        return false;
    }
    m_queue.erase({-a.rec.priority, a.rec.created_ms, a.rec.id});
    a.rec.reason = "cancelled";
    finish(a, BuildState::cancelled);
    return true;
}

BuildRecord Runner::retry(std::int64_t build_id) {
    if (auto it = m_active.find(build_id); it != m_active.end()) {
        throw RequestError(409, fmt::format("build {} is still {}", build_id, to_string(it->second->rec.state)));
    }
    auto original = m_store.build(build_id);
    if (!original) throw RequestError(404, fmt::format("no build {}", build_id));
    const Toolchain* tc = toolchain(original->toolchain);
    if (tc == nullptr) {
        throw RequestError(409, fmt::format("toolchain {} is no longer configured", original->toolchain));
    }
    if (m_stopping) throw RequestError(503, "build_runner is shutting down");
    std::int64_t id = m_store.insert_retry(*original, now_ms());
    auto b = m_store.build(id);
    if (!b) throw std::runtime_error(fmt::format("build {} vanished right after it was stored", id));
    auto a = std::make_unique<Active>();
    a->tc = tc;
    a->rec = *b;
    m_active.emplace(id, std::move(a));
    publish("queued", *b);
    enqueue(*b);
    pump();
    return m_active.count(id) ? m_active.at(id)->rec : *m_store.build(id);
}

// ---- reads ------------------------------------------------------------------------------

std::optional<BuildRecord> Runner::build(std::int64_t id) {
    if (auto it = m_active.find(id); it != m_active.end()) return it->second->rec;
    return m_store.build(id);
}

std::vector<BuildRecord> Runner::builds_of(std::int64_t package_id) {
    std::vector<BuildRecord> builds = m_store.builds_of(package_id);
    for (BuildRecord& b : builds) {
        if (auto it = m_active.find(b.id); it != m_active.end()) b = it->second->rec;
    }
    return builds;
}

std::string Runner::badge_status(const std::string& package_name) {
    auto pkgs = m_store.packages_named(package_name, 1);
    if (pkgs.empty()) return "unknown";
    bool failing = false;
    for (const BuildRecord& b : builds_of(pkgs[0].id)) {
        if (!is_terminal(b.state)) return "running";
        if (b.state == BuildState::cached) {
            // A cached build passed if the build it reused did.
            if (b.cached_from) {
                auto from = m_store.build(*b.cached_from);
                failing = failing || !from || from->state != BuildState::passed;
            }
        } else {
            failing = failing || b.state != BuildState::passed;
        }
    }
    return failing ? "failing" : "passing";
}

std::vector<BuildRecord> Runner::queued() const {
    std::vector<BuildRecord> out;
    for (const auto& [id, a] : m_active) {
        if (!a->has_slot) out.push_back(a->rec);
    }
    std::sort(out.begin(), out.end(), [](const BuildRecord& x, const BuildRecord& y) {
        return std::tuple(-x.priority, x.created_ms, x.id) < std::tuple(-y.priority, y.created_ms, y.id);
    });
    return out;
}

std::vector<BuildRecord> Runner::running() const {
    std::vector<BuildRecord> out;
    for (const auto& [id, a] : m_active) {
        if (a->has_slot) out.push_back(a->rec);
    }
    std::sort(out.begin(), out.end(),
              [](const BuildRecord& x, const BuildRecord& y) { return x.started_ms < y.started_ms; });
    return out;
}

RunnerStats Runner::stats() const {
    RunnerStats s;
    s.submissions_total = m_submissions;
    std::copy(std::begin(m_finished), std::end(m_finished), std::begin(s.finished_total));
    for (const auto& [id, a] : m_active) (a->has_slot ? s.running : s.queued)++;
    return s;
}

// ---- scheduling -------------------------------------------------------------------------

void Runner::enqueue(const BuildRecord& b) {
    std::int64_t wait = b.not_before_ms - now_ms();
    if (wait > 0) {
        m_timers.spawn(requeue_after(b.id, std::chrono::milliseconds(wait)));
        return;
    }
    m_queue.insert({-b.priority, b.created_ms, b.id});
}

dally::Task<void> Runner::requeue_after(std::int64_t id, std::chrono::milliseconds delay) {
    if (!(co_await dally::sleep_for(delay))) co_return;  // cancelled: shutting down
    auto it = m_active.find(id);
    if (it == m_active.end() || it->second->has_slot) co_return;  // cancelled meanwhile
    const BuildRecord& b = it->second->rec;
    m_queue.insert({-b.priority, b.created_ms, b.id});
    pump();
}

void Runner::pump() {
    while (!m_stopping && !m_queue.empty()) {
        const auto limit = m_slot_busy.begin() + std::min<std::ptrdiff_t>(std::max(1u, m_options.concurrency), std::ssize(m_slot_busy));
        auto free = std::find(m_slot_busy.begin(), limit, false);
        if (free == limit) return;
        auto [neg_priority, created, id] = *m_queue.begin();
        m_queue.erase(m_queue.begin());
        auto it = m_active.find(id);
        if (it == m_active.end()) continue;
        Active& a = *it->second;
        a.has_slot = true;
        a.slot = static_cast<unsigned>(free - m_slot_busy.begin());
        *free = true;
        a.cancel.reset();
        // Started now, as far as anyone can see; run_build makes it durable. (A crash
        // before that leaves it queued in SQLite, which is what recovery would do anyway.)
        a.rec.state = BuildState::fetching;
        a.rec.started_ms = now_ms();
        a.rec.finished_ms = 0;
        a.rec.not_before_ms = 0;
        a.rec.job_id.clear();
        a.rec.executor_ref.clear();
        publish("started", a.rec);
        m_tasks.spawn(run_build(id, a.slot, false));
    }
}

void Runner::release_slot(Active& a) {
    if (!a.has_slot) return;
    m_slot_busy[a.slot] = false;
    a.has_slot = false;
}

// ---- one build --------------------------------------------------------------------------

dally::Task<void> Runner::run_build(std::int64_t id, unsigned slot, bool reattach) {
    Active& a = *m_active.at(id);  // stays until finish()/back_to_queue() of this task
    // Let the runtime hand its pending sends (the 202, the `started` events) to the kernel
    // before the synchronous part here (a commit, spawning git) delays them.
    co_await dally::yield();
    RunnerSink sink(
        [this, &a](BuildState s) {
            if (s == a.rec.state) return;
            a.rec.state = s;
            record(a.rec);
            publish("state", a.rec);
        },
        [this, &a](std::string_view bytes) { append_log(a, bytes); },
        [this, &a](const std::string& job_id, const std::string& ref) {
            const bool shown = job_id != a.rec.job_id;
            a.rec.job_id = job_id;
            a.rec.executor_ref = ref;
            record(a.rec);  // before anything else: a restart must find it
            if (shown) publish("state", a.rec);
        });
    try {
        if (reattach) {
            // The executor replays the attempt's output from its start: the first attempt's
            // log starts over; a later attempt's is appended to (its start appears twice).
            if (a.rec.attempt == 1) {
                a.rec.log_bytes = 0;
                a.rec.log_truncated = false;
            }
            open_log(a, a.rec.attempt == 1);
            append_log(a, fmt::format("== {} {} is commit {}\n", a.rec.repo_url, a.rec.ref.empty() ? "HEAD" : a.rec.ref,
                                      a.rec.commit));
            BuildJob job{a.rec.id, a.rec.package, a.rec.repo_url, a.rec.commit, a.tc,
                         m_options.data_dir / "work" / std::to_string(a.rec.id), slot};
            BuildOutcome out = co_await m_executor.reattach(job, a.rec.executor_ref, sink, a.cancel);
            conclude(a, out);
            co_return;
        }
        record(a.rec);
        open_log(a, a.rec.attempt == 1);

        const Limits& limits = a.tc->limits;
        Resolved resolved = co_await m_resolver(a.rec.repo_url, a.rec.ref, limits.fetch_timeout, slot);
        if (a.cancel_requested) {
            a.rec.reason = "cancelled";
            finish(a, BuildState::cancelled);
            co_return;
        }
        if (m_stopping) {
            back_to_queue(a);
            co_return;
        }
        if (!resolved.error.empty()) {
            infra_error(a, resolved.error);
            co_return;
        }
        a.rec.commit = resolved.commit;
        append_log(a, fmt::format("== {} {} is commit {}\n", a.rec.repo_url, a.rec.ref.empty() ? "HEAD" : a.rec.ref,
                                  a.rec.commit));
        if (!a.rec.retry_of) {
            if (auto c = m_store.find_cached(a.rec.repo_url, a.rec.commit, a.rec.toolchain, a.rec.steps_hash)) {
                append_log(a, fmt::format("== identical to build {} ({}): its result is reused; see its log\n", c->id,
                                          to_string(c->state)));
                a.rec.exit_code = c->exit_code;
                a.rec.signal = c->signal;
                a.rec.reason = c->reason;
                a.rec.failed_step = c->failed_step;
                a.rec.peak_memory_kb = c->peak_memory_kb;
                a.rec.cached_from = c->id;
                finish(a, BuildState::cached);
                co_return;
            }
        }

        BuildJob job{a.rec.id, a.rec.package, a.rec.repo_url, a.rec.commit, a.tc,
                     m_options.data_dir / "work" / std::to_string(a.rec.id), slot};
        BuildOutcome out = co_await m_executor.run(job, sink, a.cancel);
        conclude(a, out);
    } catch (const std::exception& e) {
        // The store failed (disk full?) or a bug: say so; the build stays unfinished in
        // SQLite and is picked up again at the next start.
        std::fprintf(stderr, "build_runner: build %lld: %s\n", static_cast<long long>(id), e.what());
        if (auto it = m_active.find(id); it != m_active.end()) {
            release_slot(*it->second);
            close_log(*it->second);
            m_active.erase(it);
        }
        pump();
    }
}

void Runner::conclude(Active& a, const BuildOutcome& out) {
    if (out.detached) {
        // Shutting down; the build goes on elsewhere and stays `running` (with its handle) in
        // SQLite until the next start re-attaches to it.
        close_log(a);
        release_slot(a);
        return;
    }
    if (m_stopping && !a.cancel_requested) {
        back_to_queue(a);
        return;
    }
    a.rec.exit_code = out.exit_code;
    if (out.state == BuildState::passed && !a.rec.exit_code) a.rec.exit_code = 0;  // every step exited 0
    a.rec.signal = out.signal;
    a.rec.reason = out.reason;
    a.rec.failed_step = out.failed_step;
    a.rec.peak_memory_kb = out.peak_memory_kb;
    a.rec.executor_ref.clear();  // nothing to re-attach to any more
    if (a.cancel_requested) {
        a.rec.reason = "cancelled";
        finish(a, BuildState::cancelled);
    } else if (out.state == BuildState::error) {
        infra_error(a, out.reason);
    } else {
        finish(a, out.state);
    }
}

void Runner::back_to_queue(Active& a) {
    a.rec.state = BuildState::queued;
    a.rec.started_ms = 0;
    a.rec.job_id.clear();
    a.rec.executor_ref.clear();
    record(a.rec);
    close_log(a);
    release_slot(a);
}

void Runner::infra_error(Active& a, const std::string& message) {
    append_log(a, fmt::format("== error: {}\n", message));
    if (a.rec.attempt >= m_options.max_attempts || m_stopping) {
        a.rec.reason = message;
        finish(a, BuildState::error);
        return;
    }
    auto delay = m_options.retry_backoff * (1 << std::min(a.rec.attempt - 1, 10));
    append_log(a, fmt::format("== retrying in {} ms (attempt {} of {})\n", delay.count(), a.rec.attempt + 1,
                              m_options.max_attempts));
    a.rec.attempt += 1;
    a.rec.state = BuildState::queued;
    a.rec.started_ms = 0;
    a.rec.reason = message;
    a.rec.not_before_ms = now_ms() + delay.count();
    record(a.rec);
    close_log(a);
    release_slot(a);
    publish("queued", a.rec);
    enqueue(a.rec);
    pump();
}

void Runner::finish(Active& a, BuildState state) {
    a.rec.state = state;
    a.rec.finished_ms = now_ms();
    if (state == BuildState::passed) a.rec.reason.clear();
    if (a.rec.log_truncated) {
        append_log(a, "");  // (nothing: the notice was written when the cap was reached)
    }
    record(a.rec);
    close_log(a);
    release_slot(a);
    ++m_finished[static_cast<int>(state)];
    BuildRecord done = a.rec;
    m_active.erase(done.id);  // `a` is gone from here on
    publish("finished", done);
    settle_duplicates(done);
    pump();
}

void Runner::settle_duplicates(const BuildRecord& original) {
    std::vector<std::int64_t> waiting;
    for (const auto& [id, a] : m_active) {
        if (a->rec.duplicate_of == original.id && !a->has_slot) waiting.push_back(id);
    }
    for (std::int64_t id : waiting) {
        Active& d = *m_active.at(id);
        if (cacheable(original.state) || original.state == BuildState::cached) {
            open_log(d, true);
            append_log(d, fmt::format("== same as build {} ({}), which was queued first: its result is "
                                      "reused; see its log\n",
                                      original.id, to_string(original.state)));
            d.rec.commit = original.commit;
            d.rec.exit_code = original.exit_code;
            d.rec.signal = original.signal;
            d.rec.reason = original.reason;
            d.rec.failed_step = original.failed_step;
            d.rec.peak_memory_kb = original.peak_memory_kb;
            d.rec.cached_from = original.cached_from.value_or(original.id);
            d.rec.started_ms = now_ms();
            finish(d, BuildState::cached);
        } else {
            // The original was cancelled or broke: this one runs on its own.
            d.rec.duplicate_of.reset();
            record(d.rec);
            enqueue(d.rec);
        }
    }
}

// ---- logs -------------------------------------------------------------------------------

void Runner::open_log(Active& a, bool fresh) {
    if (a.log_fd >= 0) return;
    std::string path = log_path(a.rec.id).string();
    int flags = O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | (fresh ? O_TRUNC : 0);
    a.log_fd = ::open(path.c_str(), flags, 0644);
    struct stat st {};
    a.log_kept = (a.log_fd >= 0 && ::fstat(a.log_fd, &st) == 0) ? st.st_size : 0;
    if (!fresh && a.log_kept > 0) {
        append_log(a, fmt::format("\n== attempt {}\n", a.rec.attempt));
    }
}

void Runner::append_log(Active& a, std::string_view bytes) {
    if (bytes.empty()) return;
    a.rec.log_bytes += static_cast<std::int64_t>(bytes.size());
    auto cap = static_cast<std::int64_t>(a.tc ? a.tc->limits.log_bytes : Limits{}.log_bytes);
    if (a.log_kept >= cap) return;
    std::string_view keep = bytes.substr(0, static_cast<std::size_t>(std::min<std::int64_t>(
                                                static_cast<std::int64_t>(bytes.size()), cap - a.log_kept)));
    std::string notice;
    if (keep.size() < bytes.size()) {
        a.rec.log_truncated = true;
        notice = fmt::format("\n[build_runner: log truncated at {}; further output is counted, not kept]\n",
                             human_bytes(static_cast<std::uint64_t>(cap)));
    }
    if (a.log_fd >= 0) {
        // Regular-file appends land in the page cache; they do not wait for the disk.
        (void)!::write(a.log_fd, keep.data(), keep.size());
        if (!notice.empty()) (void)!::write(a.log_fd, notice.data(), notice.size());
    }
    a.log_kept += static_cast<std::int64_t>(keep.size() + notice.size());
    if (m_hub.wants_log(a.rec.package_id, a.rec.id)) {
        m_hub.publish_log(a.rec.package_id, a.rec.id, keep);
        if (!notice.empty()) m_hub.publish_log(a.rec.package_id, a.rec.id, notice);
    }
}

void Runner::close_log(Active& a) {
    if (a.log_fd >= 0) ::close(a.log_fd);
    a.log_fd = -1;
}

}  // namespace br
