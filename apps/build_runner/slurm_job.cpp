// slurm_job.cpp: the coordinator/node vocabulary of the Slurm executor (slurm_job.hpp).
#include "slurm_job.hpp"

#include "views.hpp"

#include <dally/web/json.hpp>

#include <fmt/format.h>
#include <simdjson.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <stdexcept>

namespace br {

using dally::web::json_str;
using simdjson::dom::element;

namespace {

std::string json_strings(const std::vector<std::string>& v) {
    std::string out = "[";
    for (std::size_t i = 0; i < v.size(); ++i) {
        if (i) out += ',';
        dally::web::append_json_string(out, v[i]);
    }
    return out + "]";
}

[[noreturn]] void bad(std::string_view field, std::string_view what) {
    throw std::runtime_error(fmt::format("job description: {}: {}", field, what));
}

element member(element obj, std::string_view key) {
    element v;
    if (obj[key].get(v) != simdjson::SUCCESS) bad(key, "missing");
    return v;
}

std::string str(element obj, std::string_view key) {
    std::string_view s;
    if (member(obj, key).get(s) != simdjson::SUCCESS) bad(key, "expected a string");
    return std::string(s);
}

std::int64_t num(element obj, std::string_view key) {
    std::int64_t n = 0;
    if (member(obj, key).get(n) != simdjson::SUCCESS) bad(key, "expected an integer");
    return n;
}

std::uint64_t unum(element obj, std::string_view key) {
    const std::int64_t n = num(obj, key);
    if (n < 0) bad(key, "must not be negative");
    return static_cast<std::uint64_t>(n);
}

bool flag(element obj, std::string_view key) {
    bool b = false;
    if (member(obj, key).get(b) != simdjson::SUCCESS) bad(key, "expected true or false");
    return b;
}

std::vector<std::string> strings(element obj, std::string_view key) {
    simdjson::dom::array arr;
    if (member(obj, key).get(arr) != simdjson::SUCCESS) bad(key, "expected an array");
    std::vector<std::string> out;
    for (element e : arr) {
        std::string_view s;
        if (e.get(s) != simdjson::SUCCESS) bad(key, "expected strings");
        out.emplace_back(s);
    }
    return out;
}

Limits parse_limits(element l) {
    Limits out;
    out.memory_bytes = unum(l, "memory_bytes");
    double cpus = 0;
    if (member(l, "cpus").get(cpus) != simdjson::SUCCESS || !(cpus > 0)) bad("cpus", "expected a positive number");
    out.cpus = cpus;
    out.wall = std::chrono::seconds(num(l, "wall_s"));
    out.no_output = std::chrono::seconds(num(l, "no_output_s"));
    out.max_processes = static_cast<std::uint32_t>(unum(l, "max_processes"));
    out.max_file_bytes = unum(l, "max_file_bytes");
    out.tmp_bytes = unum(l, "tmp_bytes");
    out.log_bytes = unum(l, "log_bytes");
    out.fetch_timeout = std::chrono::seconds(num(l, "fetch_timeout_s"));
    out.fetch_max_bytes = unum(l, "fetch_max_bytes");
    return out;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.remove_suffix(1);
    while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
    return s;
}

bool all_digits(std::string_view s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

std::string node_job_json(const NodeJob& j) {
    const Toolchain& t = j.toolchain;
    std::string steps = "[";
    for (std::size_t i = 0; i < t.steps.size(); ++i) {
        if (i) steps += ',';
        steps += fmt::format(R"({{"name":{},"run":{}}})", json_str{t.steps[i].name}, json_str{t.steps[i].run});
    }
    steps += "]";
    return fmt::format(
        R"({{"build_id":{},"package":{},"repo_url":{},"commit":{},"workspace":{},"slot":{},"fetch":{},)"
        R"("bwrap":{},"git":{},"base_uid":{},"kill_grace_ms":{},"require_sandbox":{},)"
        R"("toolchain":{{"name":{},"kind":{},"version":{},"env":{},"steps":{},"ro_paths":{},"limits":{}}}}})",
        j.build_id, json_str{j.package}, json_str{j.repo_url}, json_str{j.commit}, json_str{j.workspace}, j.slot,
        j.fetch, json_str{j.bwrap}, json_str{j.git}, j.base_uid, j.kill_grace_ms, j.require_sandbox,
        json_str{t.name}, json_str{t.kind}, json_str{t.version}, json_strings(t.env), steps,
        json_strings(t.ro_paths), limits_json(t.limits));
}

NodeJob parse_node_job(std::string_view json) {
    simdjson::dom::parser parser;
    element root;
    if (parser.parse(json.data(), json.size()).get(root) != simdjson::SUCCESS || !root.is_object())
        throw std::runtime_error("job description: not a JSON object");
    NodeJob j;
    j.build_id = num(root, "build_id");
    j.package = str(root, "package");
    j.repo_url = str(root, "repo_url");
    j.commit = str(root, "commit");
    j.workspace = str(root, "workspace");
    j.slot = static_cast<unsigned>(unum(root, "slot"));
    j.fetch = flag(root, "fetch");
    j.bwrap = str(root, "bwrap");
    j.git = str(root, "git");
    j.base_uid = static_cast<unsigned>(unum(root, "base_uid"));
    j.kill_grace_ms = num(root, "kill_grace_ms");
    j.require_sandbox = flag(root, "require_sandbox");
    const element t = member(root, "toolchain");
    j.toolchain.name = str(t, "name");
    j.toolchain.kind = str(t, "kind");
    j.toolchain.version = str(t, "version");
    j.toolchain.env = strings(t, "env");
    j.toolchain.ro_paths = strings(t, "ro_paths");
    simdjson::dom::array steps;
    if (member(t, "steps").get(steps) != simdjson::SUCCESS) bad("steps", "expected an array");
    for (element s : steps) j.toolchain.steps.push_back(Step{str(s, "name"), str(s, "run")});
    j.toolchain.limits = parse_limits(member(t, "limits"));
    if (j.workspace.empty() || j.workspace.front() != '/') bad("workspace", "must be an absolute path");
    return j;
}

std::string outcome_json(const BuildOutcome& o) {
    return fmt::format(R"({{"state":{},"exit_code":{},"signal":{},"reason":{},"failed_step":{},"peak_memory_kb":{}}})",
                       json_str{to_string(o.state)}, o.exit_code ? std::to_string(*o.exit_code) : "null", o.signal,
                       json_str{o.reason}, json_str{o.failed_step}, o.peak_memory_kb);
}

std::optional<BuildOutcome> parse_outcome_json(std::string_view json) {
    try {
        simdjson::dom::parser parser;
        element root;
        if (parser.parse(json.data(), json.size()).get(root) != simdjson::SUCCESS) return std::nullopt;
        BuildOutcome o;
        const auto state = parse_build_state(str(root, "state"));
        if (!state) return std::nullopt;
        o.state = *state;
        if (!member(root, "exit_code").is_null()) o.exit_code = static_cast<int>(num(root, "exit_code"));
        o.signal = static_cast<int>(num(root, "signal"));
        o.reason = str(root, "reason");
        o.failed_step = str(root, "failed_step");
        o.peak_memory_kb = num(root, "peak_memory_kb");
        return o;
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

ErrLine parse_err_line(std::string_view line) {
    line = trim(line);
    ErrLine out;
    if (line.starts_with(node_marker)) {
        std::string_view rest = line.substr(node_marker.size());
        if (rest.starts_with("started job ")) {
            rest.remove_prefix(12);
            const auto id = rest.substr(0, rest.find(' '));
            if (all_digits(id)) {
                out.kind = ErrLine::started;
                out.job_id = std::string(id);
            }
        } else if (rest.starts_with("phase ")) {
            if (auto s = parse_build_state(rest.substr(6))) {
                out.kind = ErrLine::phase_change;
                out.phase = *s;
            }
        } else if (rest.starts_with("outcome ")) {
            if (auto o = parse_outcome_json(rest.substr(8))) {
                out.kind = ErrLine::outcome_line;
                out.outcome = std::move(o);
            }
        }
        return out;
    }
    // srun's own words (stable across releases since 2.x).
    for (std::string_view tail : {" queued and waiting for resources", " has been allocated resources"}) {
        if (line.starts_with("srun: job ") && line.ends_with(tail)) {
            const auto id = line.substr(10, line.size() - 10 - tail.size());
            if (all_digits(id)) {
                out.kind = ErrLine::queued_job;
                out.job_id = std::string(id);
            }
        }
    }
    return out;
}

std::string slurm_time(std::chrono::seconds s) {
    const auto total = std::max<std::int64_t>(1, s.count());
    return fmt::format("{}:{:02}", total / 60, total % 60);
}

std::vector<std::string> srun_argv(const SrunSettings& s, const Limits& limits) {
    const auto mib = std::max<std::uint64_t>(1, (limits.memory_bytes + (1u << 20) - 1) >> 20);
    const auto cpus = static_cast<unsigned>(std::max(1.0, std::ceil(limits.cpus)));
    const auto time = limits.wall + (s.fetch_on_node ? limits.fetch_timeout : std::chrono::seconds(0));
    std::vector<std::string> argv = {
        s.srun,
        "--job-name=" + s.job_name,
        "--nodes=1",
        "--ntasks=1",
        fmt::format("--cpus-per-task={}", cpus),
        fmt::format("--mem={}M", mib),
        "--time=" + slurm_time(time),
        // The job sees none of the server's environment (its token, for one).
        "--export=NONE",
        "--unbuffered",
        "--chdir=/tmp",
    };
    if (!s.partition.empty()) argv.push_back("--partition=" + s.partition);
    if (!s.account.empty()) argv.push_back("--account=" + s.account);
    if (!s.qos.empty()) argv.push_back("--qos=" + s.qos);
    argv.insert(argv.end(), s.extra_args.begin(), s.extra_args.end());
    argv.push_back(s.node_command);
    argv.push_back("node-run");
    return argv;
}

std::string scontrol_field(std::string_view text, std::string_view key) {
    const std::string needle = std::string(key) + "=";
    std::size_t pos = 0;
    while ((pos = text.find(needle, pos)) != std::string_view::npos) {
        if (pos == 0 || text[pos - 1] == ' ' || text[pos - 1] == '\n') {
            const auto start = pos + needle.size();
            const auto end = text.find_first_of(" \n", start);
            return std::string(text.substr(start, end == std::string_view::npos ? end : end - start));
        }
        pos += needle.size();
    }
    return {};
}

bool slurm_state_pending(std::string_view s) {
    return s == "PENDING" || s == "RUNNING" || s == "COMPLETING" || s == "CONFIGURING" || s == "SUSPENDED" ||
           s == "REQUEUED" || s == "RESIZING" || s == "SIGNALING" || s == "STAGE_OUT" || s == "STOPPED" ||
           s == "REQUEUE_HOLD" || s == "REQUEUE_FED" || s == "RESV_DEL_HOLD";
}

BuildOutcome slurm_outcome(std::string_view state, const std::optional<BuildOutcome>& node, bool cancel_requested,
                           std::string_view last_error) {
    BuildOutcome o;
    if (node) o = *node;
    const std::string why = last_error.empty() ? std::string() : fmt::format(": {}", last_error);
    if (state == "TIMEOUT") {
        o.state = BuildState::timed_out;
        o.reason = "wall_clock";
        o.exit_code.reset();
    } else if (state == "OUT_OF_MEMORY") {
        o.state = BuildState::failed;
        o.reason = "out_of_memory";
        if (!node) o.signal = 9;
    } else if (state == "CANCELLED" || (cancel_requested && !node)) {
        o.state = cancel_requested ? BuildState::cancelled : BuildState::error;
        o.reason = cancel_requested ? "cancelled" : "the Slurm job was cancelled outside build_runner";
        o.exit_code.reset();
    } else if (node && (state == "COMPLETED" || state == "FAILED" || state.empty())) {
        // node-run's own account: passed, failed (which step, its exit), timed out on its
        // no-output timer, or an infrastructure error (a fetch that failed).
    } else if (state == "COMPLETED" || state == "FAILED" || state.empty()) {
        o.state = BuildState::error;
        o.reason = fmt::format("the Slurm job ended{} without a result from build_runner on the node{}",
                               state.empty() ? "" : " " + std::string(state), why);
    } else {
        // NODE_FAIL, BOOT_FAIL, PREEMPTED, DEADLINE, REVOKED: the machine, not the build.
        o = BuildOutcome{};
        o.state = BuildState::error;
        o.reason = fmt::format("the Slurm job ended {}{}", state, why);
    }
    return o;
}

std::string format_ref(const SrunRef& r) {
    std::string out = fmt::format("srun={}@{}", r.pid, r.start_ticks);
    if (!r.job_id.empty()) out += " job=" + r.job_id;
    return out;
}

std::optional<SrunRef> parse_ref(std::string_view text) {
    SrunRef r;
    bool have_srun = false;
    while (!text.empty()) {
        const auto sp = text.find(' ');
        const std::string_view word = text.substr(0, sp);
        text = sp == std::string_view::npos ? std::string_view() : text.substr(sp + 1);
        if (word.starts_with("srun=")) {
            const auto v = word.substr(5);
            const auto at = v.find('@');
            if (at == std::string_view::npos) return std::nullopt;
            auto [p1, e1] = std::from_chars(v.data(), v.data() + at, r.pid);
            auto [p2, e2] = std::from_chars(v.data() + at + 1, v.data() + v.size(), r.start_ticks);
            if (e1 != std::errc() || e2 != std::errc() || p1 != v.data() + at || p2 != v.data() + v.size() ||
                r.pid <= 0)
                return std::nullopt;
            have_srun = true;
        } else if (word.starts_with("job=")) {
            if (!all_digits(word.substr(4))) return std::nullopt;
            r.job_id = std::string(word.substr(4));
        } else if (!word.empty()) {
            return std::nullopt;
        }
    }
    if (!have_srun) return std::nullopt;
    return r;
}

}  // namespace br
