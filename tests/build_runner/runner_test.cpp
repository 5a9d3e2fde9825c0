// Tests of the Runner (queue, limits, cache, dedupe, retries, cancel, recovery, logs) with a
// real SQLite store and a fake executor and resolver: the code around the sandbox. The
// sandbox itself is tested in executor_test, and all of it together in the pytest suite.
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
    std::vector<std::int64_t> started;
    std::size_t running = 0;
    std::size_t max_running = 0;
    std::map<std::int64_t, dally::Event*> cancels;
    std::set<std::int64_t> released;

    void release(std::int64_t id) {
        released.insert(id);
        if (auto it = cancels.find(id); it != cancels.end()) it->second->set();
    }

    dally::Task<br::BuildOutcome> run(const br::BuildJob& job, br::BuildSink& sink, dally::Event& cancel) override {
        started.push_back(job.build_id);
        max_running = std::max(max_running, ++running);
        Plan plan = plans.count(job.toolchain->name) ? plans[job.toolchain->name] : Plan{};
        sink.phase(br::BuildState::running);
        sink.output(plan.output);
        br::BuildOutcome out{plan.state, plan.exit_code, 0, plan.reason, "", 1234};
        if (plan.hold) {
            cancels[job.build_id] = &cancel;
            (void)co_await cancel.wait();
            cancels.erase(job.build_id);
            if (!released.count(job.build_id)) out = {br::BuildState::cancelled, std::nullopt, 15, "cancelled", "", 0};
        }
        --running;
        co_return out;
    }
    br::Enforcement enforcement() const override { return {"fake", false, "", {}, ""}; }
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
