// Tests of the Runner (queue, limits, cache, dedupe, retries, cancel, recovery, logs, and
// with a detachable executor: handles, detach at shutdown, re-attach at start) with a real
// SQLite store and a fake executor and resolver: the code around the sandbox. The sandbox
// itself is tested in executor_test, and all of it together in the pytest suite.
#include "runner.hpp"

#include "apps/temp_dir.hpp"
#include "test_support.hpp"
#include "views.hpp"

#include <dally/dally.hpp>
#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <map>
#include <set>

using namespace std::chrono_literals;

namespace {

// Runs builds by a per-toolchain plan. A held build waits until release(id) or a cancel.
// With can_detach it behaves like the Slurm executor: run() reports a handle ("job-<id>",
// "ref-<id>") before anything else, detach() ends every held run() and reattach() with
// `detached`, and reattach() follows a recorded handle to reattach_plan's end.
class FakeExecutor final : public br::BuildExecutor {
public:
    struct Plan {
        br::BuildState state = br::BuildState::passed;
        std::optional<int> exit_code = 0;
        std::string reason;
        std::string output = "compiling\n";
        bool hold = false;
    };
    std::map<std::string, Plan> plans;  // by toolchain; default: passes at once
    std::vector<std::int64_t> started;  // run() calls
    std::size_t running = 0;
    std::size_t max_running = 0;
    std::map<std::int64_t, dally::Event*> cancels;
    std::set<std::int64_t> released;

    bool can_detach = false;
    Plan reattach_plan = [] {
        Plan p;
        p.output = "followed again\n";
        return p;
    }();
    std::vector<std::pair<std::int64_t, std::string>>
        reattached;  // reattach() calls: build id, ref
    int detach_calls = 0;
    std::set<std::int64_t> detached_ids;             // held builds that detach() ended
    std::set<std::int64_t> cancelled_before_detach;  // ... whose cancel the runner had set first
    std::function<void(std::int64_t)> after_handle;  // right after sink.handle() returns

    void release(std::int64_t id) {
        released.insert(id);
        if (auto it = cancels.find(id); it != cancels.end()) it->second->set();
    }

    dally::Task<br::BuildOutcome> run(const br::BuildJob& job, br::BuildSink& sink, dally::Event& cancel) override {
        started.push_back(job.build_id);
        max_running = std::max(max_running, ++running);
        Plan plan = plans.count(job.toolchain->name) ? plans[job.toolchain->name] : Plan{};
        if (can_detach) {
            const std::string id = std::to_string(job.build_id);
            sink.handle("job-" + id, "ref-" + id);
            if (after_handle) after_handle(job.build_id);
        }
        sink.phase(br::BuildState::running);
        sink.output(plan.output);
        br::BuildOutcome out = co_await finish(job.build_id, plan, cancel);
        --running;
        co_return out;
    }

    dally::Task<br::BuildOutcome> reattach(const br::BuildJob& job, const std::string& ref,
                                           br::BuildSink& sink, dally::Event& cancel) override {
        reattached.emplace_back(job.build_id, ref);
        max_running = std::max(max_running, ++running);
        sink.output(reattach_plan.output);
        br::BuildOutcome out = co_await finish(job.build_id, reattach_plan, cancel);
        --running;
        co_return out;
    }

    bool detachable() const override { return can_detach; }
    void detach() override {
        ++detach_calls;
        std::vector<std::pair<std::int64_t, dally::Event*>> held(cancels.begin(), cancels.end());
        for (auto& [id, event] : held) {
            if (event->is_set()) cancelled_before_detach.insert(id);
            detached_ids.insert(id);
            event->set();
        }
    }
    br::Enforcement enforcement() const override { return {"fake", false, "", {}, "", {}}; }

  private:
    dally::Task<br::BuildOutcome> finish(std::int64_t id, Plan plan, dally::Event& cancel) {
        br::BuildOutcome out{plan.state, plan.exit_code, 0, plan.reason, "", 1234};
        if (plan.hold) {
            cancels[id] = &cancel;
            (void)co_await cancel.wait();
            cancels.erase(id);
            if (detached_ids.erase(id)) {
                out = br::BuildOutcome{};
                out.detached = true;
            } else if (!released.count(id)) {
                out = {br::BuildState::cancelled, std::nullopt, 15, "cancelled", "", 0};
            }
        }
        co_return out;
    }
};

br::Toolchain toolchain(std::string name) {
    br::Toolchain t;
    t.name = name;
    t.kind = "custom";
    t.version = "1";
    t.steps = {{"build", "make"}};
    t.limits.log_bytes = 1000;
    return t;
}

struct Fixture {
    TempDir dir{"br-runner-test"};
    br::Store store{dir / "br.db", {.sync_full = false}};
    FakeExecutor exec;
    br::EventHub hub;
    std::vector<std::string> events;  // message types, in order
    int resolve_failures = 0;         // the resolver fails this many times first
    std::unique_ptr<br::Runner> runner;

    explicit Fixture(unsigned concurrency = 1, std::vector<br::Toolchain> tcs = {toolchain("tc-a")}) {
        hub.add(
            [this](const br::EventHub::Delivery& d) {
                if (d.type != "log") events.push_back(std::string(d.type));
                return true;
            },
            {});
        runner = make(concurrency, std::move(tcs));
    }
    std::unique_ptr<br::Runner> make(unsigned concurrency, std::vector<br::Toolchain> tcs) {
        return std::make_unique<br::Runner>(
            br::RunnerOptions{.data_dir = dir / "data", .concurrency = concurrency, .max_attempts = 3,
                              .retry_backoff = 20ms},
            std::move(tcs), store, exec,
            [this](std::string, std::string ref, std::chrono::seconds, unsigned) -> dally::Task<br::Resolved> {
                if (resolve_failures > 0) {
                    --resolve_failures;
                    co_return br::Resolved{"", "could not reach the remote"};
                }
                // A commit per ref: 40 hex digits.
                std::string c = std::string(40, '0');
                for (std::size_t i = 0; i < ref.size() && i < 40; ++i) c[i] = "0123456789abcdef"[ref[i] % 16];
                co_return br::Resolved{c, ""};
            },
            hub);
    }
    br::Submission sub(std::string name, std::string ref = "main", int priority = 0) {
        return br::Submission{std::move(name), "https://git.example/" + ref + ".git", ref, {}, priority};
    }
    std::vector<br::BuildRecord> submit(br::Submission s) {
        std::vector<br::BuildRecord> builds;
        runner->submit(s, builds);
        return builds;
    }
    br::BuildState state(std::int64_t id) { return runner->build(id)->state; }
};

// Polls `pred` on the runtime (letting the runner's tasks run) for up to 5 s.
dally::Task<bool> eventually(std::function<bool()> pred) {
    for (int i = 0; i < 5000 * dally_test::slowdown; ++i) {
        if (pred()) co_return true;
        (void)co_await dally::sleep_for(1ms);
    }
    co_return pred();
}

// ASSERT_* returns, which a coroutine cannot: this stops the test coroutine instead.
#define CO_ASSERT(cond)                              \
    do {                                             \
        if (!(cond)) {                               \
            ADD_FAILURE() << "assertion failed: " #cond; \
            co_return;                               \
        }                                            \
    } while (0)

template <class F>
void run_on_runtime(F body) {
    dally::Runtime rt;
    rt.block_on(body());
}

}  // namespace

TEST(Runner, BuildPassesAndEventsComeInOrder) {
    run_on_runtime([]() -> dally::Task<void> {
        Fixture f;
        f.runner->start();
        auto builds = f.submit(f.sub("hello"));
        CO_ASSERT((builds.size()) == (1u));
        std::int64_t id = builds[0].id;
        EXPECT_TRUE(co_await eventually([&] { return f.state(id) == br::BuildState::passed; }));
        EXPECT_EQ(f.events, (std::vector<std::string>{"submitted", "queued", "started", "state", "finished"}));
        auto stored = f.store.build(id);
        EXPECT_EQ(stored->state, br::BuildState::passed);
        EXPECT_EQ(stored->peak_memory_kb, 1234);
        EXPECT_GT(stored->finished_ms, 0);
        std::ifstream log(f.runner->log_path(id));
        std::string text((std::istreambuf_iterator<char>(log)), {});
        EXPECT_NE(text.find("compiling\n"), std::string::npos) << text;
        co_await f.runner->shutdown();
    });
}

TEST(Runner, ConcurrencyLimitThenPriorityThenAge) {
    run_on_runtime([]() -> dally::Task<void> {
        Fixture f(1);
        f.exec.plans["tc-a"].hold = true;
        f.runner->start();
        auto first = f.submit(f.sub("a", "r1"))[0].id;
        auto low = f.submit(f.sub("b", "r2", 0))[0].id;
        auto high = f.submit(f.sub("c", "r3", 5))[0].id;
        auto low2 = f.submit(f.sub("d", "r4", 0))[0].id;
        EXPECT_TRUE(co_await eventually([&] { return f.exec.started.size() == 1; }));
        EXPECT_EQ(f.state(low), br::BuildState::queued);
        for (std::int64_t id : {first, high, low, low2}) {
            EXPECT_TRUE(co_await eventually([&] { return f.exec.cancels.count(id) == 1; })) << id;
            f.exec.release(id);
        }
        EXPECT_TRUE(co_await eventually([&] { return f.state(low2) == br::BuildState::passed; }));
        EXPECT_EQ(f.exec.started, (std::vector<std::int64_t>{first, high, low, low2}));
        EXPECT_EQ(f.exec.max_running, 1u);
        co_await f.runner->shutdown();
    });
}

TEST(Runner, InvalidSubmissionWritesNothing) {
    run_on_runtime([]() -> dally::Task<void> {
        Fixture f;
        f.runner->start();
        std::vector<br::BuildRecord> builds;
        auto expect_field = [&](br::Submission s, std::string field) {
            try {
                f.runner->submit(s, builds);
                ADD_FAILURE() << "accepted a bad " << field;
            } catch (const br::RequestError& e) {
                EXPECT_EQ(e.status, 400);
                EXPECT_EQ(e.field, field) << e.what();
            }
        };
        expect_field(br::Submission{"../etc", "https://git.example/x.git", "", {}, 0}, "name");
        expect_field(br::Submission{"ok", "--upload-pack=touch /tmp/x", "", {}, 0}, "repo_url");
        expect_field(br::Submission{"ok", "https://git.example/x.git", "-x", {}, 0}, "ref");
        expect_field(br::Submission{"ok", "https://git.example/x.git", "", {"nope"}, 0}, "toolchains");
        expect_field(br::Submission{"ok", "https://git.example/x.git", "", {}, 1000}, "priority");
        EXPECT_TRUE(f.store.packages(10).empty());
        EXPECT_TRUE(f.events.empty());
        co_await f.runner->shutdown();
    });
}

TEST(Runner, IdenticalQueuedBuildIsDeduplicatedThenCached) {
    run_on_runtime([]() -> dally::Task<void> {
        Fixture f(2);
        f.exec.plans["tc-a"].hold = true;
        f.runner->start();
        auto a = f.submit(f.sub("pkg", "main"))[0];
        auto b = f.submit(f.sub("pkg", "main"))[0];
        EXPECT_FALSE(a.duplicate_of.has_value());
        CO_ASSERT(b.duplicate_of.has_value());
        EXPECT_EQ(*b.duplicate_of, a.id);
        EXPECT_TRUE(co_await eventually([&] { return f.exec.cancels.count(a.id) == 1; }));
        f.exec.release(a.id);
        EXPECT_TRUE(co_await eventually([&] { return f.state(b.id) == br::BuildState::cached; }));
        EXPECT_EQ(f.runner->build(b.id)->cached_from, a.id);
        EXPECT_EQ(f.exec.started.size(), 1u);  // ran once
        co_await f.runner->shutdown();
    });
}

TEST(Runner, SameCommitAgainIsCachedAndRetryBypassesTheCache) {
    run_on_runtime([]() -> dally::Task<void> {
        Fixture f;
        f.exec.plans["tc-a"] = {br::BuildState::failed, 2, "step build exited 2", "error: x\n", false};
        f.runner->start();
        auto a = f.submit(f.sub("pkg", "v1"))[0];
        EXPECT_TRUE(co_await eventually([&] { return f.state(a.id) == br::BuildState::failed; }));
        auto b = f.submit(f.sub("pkg", "v1"))[0];
        EXPECT_TRUE(co_await eventually([&] { return f.state(b.id) == br::BuildState::cached; }));
        auto cached = *f.runner->build(b.id);
        EXPECT_EQ(cached.cached_from, a.id);
        EXPECT_EQ(cached.exit_code, 2);
        EXPECT_EQ(cached.reason, "step build exited 2");
        EXPECT_EQ(f.exec.started.size(), 1u);

        auto r = f.runner->retry(a.id);
        EXPECT_EQ(r.retry_of, a.id);
        EXPECT_TRUE(co_await eventually([&] { return f.state(r.id) == br::BuildState::failed; }));
        EXPECT_EQ(f.exec.started.size(), 2u);  // really ran again
        co_await f.runner->shutdown();
    });
}

TEST(Runner, InfrastructureErrorsAreRetriedWithBackoffButBuildFailuresAreNot) {
    run_on_runtime([]() -> dally::Task<void> {
        Fixture f;
        f.resolve_failures = 2;
        f.runner->start();
        auto a = f.submit(f.sub("pkg", "main"))[0];
        EXPECT_TRUE(co_await eventually([&] { return f.state(a.id) == br::BuildState::passed; }));
        EXPECT_EQ(f.runner->build(a.id)->attempt, 3);
        EXPECT_EQ(std::count(f.events.begin(), f.events.end(), "queued"), 3);

        f.resolve_failures = 5;  // more than max_attempts
        auto b = f.submit(f.sub("pkg", "other"))[0];
        EXPECT_TRUE(co_await eventually([&] { return f.state(b.id) == br::BuildState::error; }));
        EXPECT_EQ(f.runner->build(b.id)->attempt, 3);
        EXPECT_EQ(f.runner->build(b.id)->reason, "could not reach the remote");

        f.resolve_failures = 0;
        f.exec.plans["tc-a"] = {br::BuildState::failed, 1, "step test exited 1", "", false};
        auto c = f.submit(f.sub("pkg", "third"))[0];
        EXPECT_TRUE(co_await eventually([&] { return f.state(c.id) == br::BuildState::failed; }));
        EXPECT_EQ(f.runner->build(c.id)->attempt, 1);
        co_await f.runner->shutdown();
    });
}

TEST(Runner, CancelQueuedRunningAndFinished) {
    run_on_runtime([]() -> dally::Task<void> {
        Fixture f(1);
        f.exec.plans["tc-a"].hold = true;
        f.runner->start();
        auto running = f.submit(f.sub("a", "r1"))[0].id;
        auto queued = f.submit(f.sub("b", "r2"))[0].id;
        EXPECT_TRUE(co_await eventually([&] { return f.exec.cancels.count(running) == 1; }));
        EXPECT_TRUE(f.runner->cancel(queued));  // at once
        EXPECT_EQ(f.store.build(queued)->state, br::BuildState::cancelled);
        EXPECT_FALSE(f.runner->cancel(running));  // asked
        EXPECT_TRUE(co_await eventually([&] { return f.state(running) == br::BuildState::cancelled; }));
        EXPECT_EQ(f.runner->build(running)->reason, "cancelled");
        try {
            f.runner->cancel(running);
            ADD_FAILURE() << "cancelled a finished build";
        } catch (const br::RequestError& e) {
            EXPECT_EQ(e.status, 409);
        }
        try {
            f.runner->cancel(9999);
            ADD_FAILURE() << "cancelled a build that does not exist";
        } catch (const br::RequestError& e) {
            EXPECT_EQ(e.status, 404);
        }
        EXPECT_EQ(f.exec.started, (std::vector<std::int64_t>{running}));
        co_await f.runner->shutdown();
    });
}

TEST(Runner, InterruptedBuildsAreRequeuedAtStart) {
    run_on_runtime([]() -> dally::Task<void> {
        Fixture f(1);
        f.exec.plans["tc-a"].hold = true;
        f.runner->start();
        auto a = f.submit(f.sub("a", "r1"))[0].id;
        auto b = f.submit(f.sub("b", "r2"))[0].id;
        EXPECT_TRUE(co_await eventually([&] { return f.exec.cancels.count(a) == 1; }));
        // A graceful stop puts the running build back in the queue, in SQLite.
        co_await f.runner->shutdown();
        EXPECT_EQ(f.store.build(a)->state, br::BuildState::queued);
        EXPECT_EQ(f.store.build(b)->state, br::BuildState::queued);

        // As after kill -9: a row left in `running`.
        auto rec = *f.store.build(a);
        rec.state = br::BuildState::running;
        rec.started_ms = br::now_ms();
        f.store.update_build(rec);

        f.exec.plans["tc-a"].hold = false;
        f.exec.started.clear();
        f.runner = f.make(1, {toolchain("tc-a")});
        f.runner->start();
        EXPECT_TRUE(co_await eventually([&] { return f.state(b) == br::BuildState::passed; }));
        EXPECT_EQ(f.state(a), br::BuildState::passed);
        EXPECT_EQ(f.exec.started, (std::vector<std::int64_t>{a, b}));
        co_await f.runner->shutdown();
    });
}

TEST(Runner, LogIsCappedWithANoticeAndCounted) {
    run_on_runtime([]() -> dally::Task<void> {
        Fixture f;
        f.exec.plans["tc-a"].output = std::string(5000, 'x');
        f.runner->start();
        auto a = f.submit(f.sub("a"))[0].id;
        EXPECT_TRUE(co_await eventually([&] { return f.state(a) == br::BuildState::passed; }));
        auto b = *f.runner->build(a);
        EXPECT_TRUE(b.log_truncated);
        EXPECT_GE(b.log_bytes, 5000);
        std::ifstream log(f.runner->log_path(a));
        std::string text((std::istreambuf_iterator<char>(log)), {});
        EXPECT_LT(text.size(), 1200u);
        EXPECT_NE(text.find("log truncated"), std::string::npos);
        co_await f.runner->shutdown();
    });
}

TEST(Runner, OneBuildPerToolchainAndUnknownToolchainRejected) {
    run_on_runtime([]() -> dally::Task<void> {
        Fixture f(2, {toolchain("tc-a"), toolchain("tc-b")});
        f.runner->start();
        auto builds = f.submit(f.sub("a"));
        CO_ASSERT((builds.size()) == (2u));
        EXPECT_EQ(builds[0].toolchain, "tc-a");
        EXPECT_EQ(builds[1].toolchain, "tc-b");
        auto only = f.submit(br::Submission{"b", "https://git.example/x.git", "", {"tc-b"}, 0});
        CO_ASSERT((only.size()) == (1u));
        EXPECT_EQ(only[0].toolchain, "tc-b");
        EXPECT_TRUE(co_await eventually([&] { return f.state(only[0].id) == br::BuildState::passed; }));
        co_await f.runner->shutdown();
    });
}

// ---- a detachable executor (builds that outlive the process, as with Slurm) --------------

namespace {

std::string log_text(Fixture& f, std::int64_t id) {
    std::ifstream log(f.runner->log_path(id));
    return std::string((std::istreambuf_iterator<char>(log)), {});
}

// A build row as an earlier process left it: in `state` (fetching or running), with the
// executor's handle `ref` ("" if it died before the executor reported one).
std::int64_t left_behind(Fixture& f, const std::string& name, br::BuildState state,
                         const std::string& ref, const std::string& job_id = "") {
    const br::Toolchain tc = toolchain("tc-a");
    const auto sub = f.store.submit(
        br::PackageRecord{0, name, "https://git.example/" + name + ".git", "main", 0, br::now_ms()},
        {br::NewBuild{tc.name, tc.steps_hash(), std::nullopt}});
    br::BuildRecord b = *f.store.build(sub.build_ids[0]);
    b.state = state;
    b.commit = std::string(40, 'c');
    b.started_ms = br::now_ms();
    b.job_id = job_id;
    b.executor_ref = ref;
    f.store.update_build(b);
    return b.id;
}

std::string ref_of(std::int64_t id) { return "ref-" + std::to_string(id); }
std::string job_of(std::int64_t id) { return "job-" + std::to_string(id); }

}  // namespace

TEST(RunnerDetach, HandleIsCommittedToTheStoreTheMomentItIsReported) {
    run_on_runtime([]() -> dally::Task<void> {
        Fixture f;
        f.exec.can_detach = true;
        f.exec.plans["tc-a"].hold = true;
        std::vector<br::BuildRecord> at_handle;  // the stored row when handle() returned
        f.exec.after_handle = [&](std::int64_t id) { at_handle.push_back(*f.store.build(id)); };
        f.runner->start();
        const auto id = f.submit(f.sub("a"))[0].id;
        EXPECT_TRUE(co_await eventually([&] { return f.exec.cancels.count(id) == 1; }));
        CO_ASSERT(at_handle.size() == 1u);
        EXPECT_EQ(at_handle[0].job_id, job_of(id));
        EXPECT_EQ(at_handle[0].executor_ref, ref_of(id));
        EXPECT_EQ(at_handle[0].state,
                  br::BuildState::fetching);  // the handle came before any phase

        // While the build runs: in SQLite (what a restart reads) and in the runner's view.
        const auto stored = *f.store.build(id);
        EXPECT_EQ(stored.state, br::BuildState::running);
        EXPECT_EQ(stored.job_id, job_of(id));
        EXPECT_EQ(stored.executor_ref, ref_of(id));
        EXPECT_EQ(f.runner->build(id)->job_id, job_of(id));
        // A new job id is news: a `state` event tells it, before the phase's own.
        EXPECT_EQ(f.events,
                  (std::vector<std::string>{"submitted", "queued", "started", "state", "state"}));

        f.exec.release(id);
        EXPECT_TRUE(co_await eventually([&] { return f.state(id) == br::BuildState::passed; }));
        const auto done = *f.store.build(id);
        EXPECT_EQ(done.executor_ref, "");    // nothing to re-attach to any more
        EXPECT_EQ(done.job_id, job_of(id));  // where it ran stays shown
        co_await f.runner->shutdown();
    });
}

TEST(RunnerDetach, ShutdownDetachesRunningBuildsInsteadOfCancellingThem) {
    run_on_runtime([]() -> dally::Task<void> {
        Fixture f(1);
        f.exec.can_detach = true;
        f.exec.plans["tc-a"].hold = true;
        f.runner->start();
        const auto a = f.submit(f.sub("a", "r1"))[0].id;
        const auto b = f.submit(f.sub("b", "r2"))[0].id;
        EXPECT_TRUE(co_await eventually([&] { return f.exec.cancels.count(a) == 1; }));
        co_await f.runner->shutdown();

        EXPECT_EQ(f.exec.detach_calls, 1);
        EXPECT_EQ(f.exec.detached_ids, std::set<std::int64_t>{});  // each held run() saw it
        EXPECT_TRUE(f.exec.cancelled_before_detach.empty())
            << "shutdown cancelled a detachable build";
        EXPECT_EQ(f.exec.started, (std::vector<std::int64_t>{a}));
        // The build goes on elsewhere: running, with its handle, not finished, not requeued.
        const auto ra = *f.store.build(a);
        EXPECT_EQ(ra.state, br::BuildState::running);
        EXPECT_EQ(ra.executor_ref, ref_of(a));
        EXPECT_EQ(ra.job_id, job_of(a));
        EXPECT_EQ(ra.finished_ms, 0);
        EXPECT_GT(ra.started_ms, 0);
        EXPECT_EQ(ra.reason, "");
        EXPECT_EQ(ra.attempt, 1);
        EXPECT_EQ(f.store.build(b)->state, br::BuildState::queued);
        EXPECT_EQ(std::count(f.events.begin(), f.events.end(), "finished"), 0);
    });
}

TEST(RunnerDetach, RestartReattachesToADetachedBuildInsteadOfRunningItAgain) {
    run_on_runtime([]() -> dally::Task<void> {
        Fixture f(1);
        f.exec.can_detach = true;
        f.exec.plans["tc-a"].hold = true;
        f.runner->start();
        const auto a = f.submit(f.sub("a", "r1"))[0].id;
        const auto b = f.submit(f.sub("b", "r2"))[0].id;
        EXPECT_TRUE(co_await eventually([&] { return f.exec.cancels.count(a) == 1; }));
        co_await f.runner->shutdown();
        CO_ASSERT(f.store.build(a)->executor_ref == ref_of(a));

        // The job ends while nobody follows it; its result differs from what run() would give.
        f.exec.started.clear();
        f.exec.plans["tc-a"].hold = false;
        f.exec.reattach_plan.state = br::BuildState::failed;
        f.exec.reattach_plan.exit_code = 3;
        f.exec.reattach_plan.reason = "step test exited 3";
        f.exec.reattach_plan.hold = true;
        f.events.clear();
        f.runner = f.make(1, {toolchain("tc-a")});
        f.runner->start();
        EXPECT_TRUE(co_await eventually([&] { return f.exec.cancels.count(a) == 1; }));
        EXPECT_EQ(f.exec.reattached,
                  (std::vector<std::pair<std::int64_t, std::string>>{{a, ref_of(a)}}));
        // It holds the only slot, as it did before the restart; it is not queued as well.
        EXPECT_EQ(f.runner->running().size(), 1u);
        EXPECT_EQ(f.state(b), br::BuildState::queued);
        EXPECT_TRUE(f.exec.started.empty());
        EXPECT_EQ(f.runner->queued().size(), 1u);

        f.exec.release(a);
        EXPECT_TRUE(co_await eventually([&] { return f.state(b) == br::BuildState::passed; }));
        EXPECT_EQ(f.exec.started, (std::vector<std::int64_t>{b}));  // run() never saw a again
        EXPECT_EQ(f.exec.reattached.size(), 1u);
        const auto ra = *f.store.build(a);
        EXPECT_EQ(ra.state, br::BuildState::failed);
        EXPECT_EQ(ra.exit_code, 3);
        EXPECT_EQ(ra.reason, "step test exited 3");
        EXPECT_EQ(ra.peak_memory_kb, 1234);
        EXPECT_EQ(ra.attempt, 1);
        EXPECT_GT(ra.finished_ms, 0);
        EXPECT_EQ(ra.executor_ref, "");
        EXPECT_EQ(ra.job_id, job_of(a));
        const std::string log = log_text(f, a);
        EXPECT_NE(log.find("followed again\n"), std::string::npos) << log;
        EXPECT_NE(log.find("is commit"), std::string::npos) << log;
        EXPECT_EQ(f.exec.max_running, 1u);
        co_await f.runner->shutdown();
    });
}

TEST(RunnerDetach, AReattachedBuildDetachedAgainIsFollowedAgainAtTheNextStart) {
    run_on_runtime([]() -> dally::Task<void> {
        Fixture f(1);
        f.exec.can_detach = true;
        f.exec.reattach_plan.hold = true;
        const auto a = left_behind(f, "a", br::BuildState::running, "srun=1@2 job=9", "9");
        f.runner->start();
        EXPECT_TRUE(co_await eventually([&] { return f.exec.cancels.count(a) == 1; }));
        co_await f.runner->shutdown();
        EXPECT_EQ(f.exec.detach_calls, 1);
        EXPECT_TRUE(f.exec.cancelled_before_detach.empty());
        const auto ra = *f.store.build(a);
        EXPECT_EQ(ra.state, br::BuildState::running);
        EXPECT_EQ(ra.executor_ref, "srun=1@2 job=9");
        EXPECT_EQ(ra.job_id, "9");

        f.exec.reattach_plan.hold = false;
        f.runner = f.make(1, {toolchain("tc-a")});
        f.runner->start();
        EXPECT_TRUE(co_await eventually([&] { return f.state(a) == br::BuildState::passed; }));
        EXPECT_EQ(f.exec.reattached, (std::vector<std::pair<std::int64_t, std::string>>{
                                         {a, "srun=1@2 job=9"}, {a, "srun=1@2 job=9"}}));
        EXPECT_TRUE(f.exec.started.empty());
        EXPECT_EQ(f.store.build(a)->exit_code, 0);
        co_await f.runner->shutdown();
    });
}

TEST(RunnerDetach, BuildsWithoutAHandleAreRequeuedAndThoseWithOneReattached) {
    run_on_runtime([]() -> dally::Task<void> {
        Fixture f(2);
        f.exec.can_detach = true;
        // As after kill -9: one build died before its executor reported a handle, one while
        // it was still fetching on the coordinator but already had one.
        const auto bare = left_behind(f, "bare", br::BuildState::running, "");
        const auto fetching = left_behind(f, "fetching", br::BuildState::fetching, "srun=5@6");
        f.runner->start();
        EXPECT_TRUE(co_await eventually([&] {
            return f.state(bare) == br::BuildState::passed &&
                   f.state(fetching) == br::BuildState::passed;
        }));
        EXPECT_EQ(f.exec.started, (std::vector<std::int64_t>{bare}));
        EXPECT_EQ(f.exec.reattached,
                  (std::vector<std::pair<std::int64_t, std::string>>{{fetching, "srun=5@6"}}));
        // The requeued build ran from the start: resolved, then run() reported its own handle.
        EXPECT_EQ(f.store.build(bare)->job_id, job_of(bare));
        EXPECT_EQ(f.store.build(bare)->executor_ref, "");
        EXPECT_EQ(f.store.build(bare)->attempt, 1);
        co_await f.runner->shutdown();
    });
}

TEST(RunnerDetach, AnExecutorThatCannotDetachRequeuesBuildsThatHaveAHandle) {
    run_on_runtime([]() -> dally::Task<void> {
        // The config went from slurm back to local: a recorded handle means nothing now.
        Fixture f(1);
        const auto a = left_behind(f, "a", br::BuildState::running, "srun=1@2 job=3", "3");
        f.runner->start();
        EXPECT_TRUE(co_await eventually([&] { return f.state(a) == br::BuildState::passed; }));
        EXPECT_EQ(f.exec.started, (std::vector<std::int64_t>{a}));
        EXPECT_TRUE(f.exec.reattached.empty());
        EXPECT_EQ(f.store.build(a)->executor_ref, "");
        EXPECT_EQ(f.store.build(a)->job_id, "");
        co_await f.runner->shutdown();
        EXPECT_EQ(f.exec.detach_calls, 0);
    });
}

TEST(RunnerDetach, ShutdownWithAnExecutorThatCannotDetachStillCancels) {
    run_on_runtime([]() -> dally::Task<void> {
        Fixture f(1);
        f.exec.plans["tc-a"].hold = true;
        f.runner->start();
        const auto a = f.submit(f.sub("a"))[0].id;
        EXPECT_TRUE(co_await eventually([&] { return f.exec.cancels.count(a) == 1; }));
        co_await f.runner->shutdown();
        EXPECT_EQ(f.exec.detach_calls, 0);
        EXPECT_EQ(f.store.build(a)->state, br::BuildState::queued);
    });
}

TEST(RunnerDetach, AFailedReattachIsRetriedLikeAnyInfrastructureError) {
    run_on_runtime([]() -> dally::Task<void> {
        Fixture f(1);
        f.exec.can_detach = true;
        f.exec.reattach_plan.state = br::BuildState::error;
        f.exec.reattach_plan.exit_code.reset();
        f.exec.reattach_plan.reason = "cannot re-attach: its state directory is gone";
        const auto a = left_behind(f, "a", br::BuildState::running, "srun=1@2");
        f.runner->start();
        EXPECT_TRUE(co_await eventually([&] { return f.state(a) == br::BuildState::passed; }));
        EXPECT_EQ(f.exec.reattached.size(), 1u);
        EXPECT_EQ(f.exec.started, (std::vector<std::int64_t>{a}));  // started over by run()
        const auto ra = *f.store.build(a);
        EXPECT_EQ(ra.attempt, 2);
        EXPECT_EQ(ra.executor_ref, "");
        const std::string log = log_text(f, a);
        EXPECT_NE(log.find("== error: cannot re-attach: its state directory is gone"),
                  std::string::npos)
            << log;
        co_await f.runner->shutdown();
    });
}

TEST(RunnerDetach, UserCancelOfAReattachedBuildReachesTheExecutor) {
    run_on_runtime([]() -> dally::Task<void> {
        Fixture f(1);
        f.exec.can_detach = true;
        f.exec.reattach_plan.hold = true;
        const auto a = left_behind(f, "a", br::BuildState::running, "srun=1@2 job=4", "4");
        f.runner->start();
        EXPECT_TRUE(co_await eventually([&] { return f.exec.cancels.count(a) == 1; }));
        EXPECT_FALSE(f.runner->cancel(a));  // asked: the executor stops the job
        EXPECT_TRUE(co_await eventually([&] { return f.state(a) == br::BuildState::cancelled; }));
        EXPECT_EQ(f.store.build(a)->reason, "cancelled");
        EXPECT_EQ(f.store.build(a)->executor_ref, "");
        co_await f.runner->shutdown();
    });
}

// DISABLED: fails on the current runner (reported to the lead; enable once fixed). With
// more builds to re-attach than slots (concurrency lowered across a restart), start()
// follows the extra ones without a slot (has_slot false), so queued() and stats() count a
// running build as queued, and cancel() takes the queued path: it finishes the build as
// cancelled at once and frees its Active while the executor's reattach() still waits on
// that Active's cancel event (a dangling reference in run_build, and no scancel for the job).
TEST(RunnerDetach, ReattachedBuildsBeyondTheConcurrencyLimitAreRunningNotQueued) {
    run_on_runtime([]() -> dally::Task<void> {
        Fixture f(1);
        f.exec.can_detach = true;
        f.exec.reattach_plan.hold = true;
        const auto a = left_behind(f, "a", br::BuildState::running, "srun=1@2 job=1", "1");
        const auto b = left_behind(f, "b", br::BuildState::running, "srun=3@4 job=2", "2");
        f.runner->start();
        EXPECT_TRUE(co_await eventually(
            [&] { return f.exec.cancels.count(a) == 1 && f.exec.cancels.count(b) == 1; }));
        EXPECT_EQ(f.exec.reattached.size(), 2u);
        EXPECT_TRUE(f.runner->queued().empty());
        EXPECT_EQ(f.runner->stats().queued, 0u);
        EXPECT_EQ(f.runner->stats().running, 2u);
        CO_ASSERT(
            !f.runner->cancel(b));  // asked, as for any running build: the executor stops the job
        EXPECT_TRUE(co_await eventually([&] { return f.state(b) == br::BuildState::cancelled; }));
        f.exec.release(a);
        EXPECT_TRUE(co_await eventually([&] { return f.state(a) == br::BuildState::passed; }));
        co_await f.runner->shutdown();
    });
}
