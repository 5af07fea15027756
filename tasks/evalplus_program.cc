#include "tasks/evalplus_program.h"

#include <nlohmann/json.hpp>

#include "engine/file_util.h"

namespace fp4lab {
namespace {

constexpr std::string_view kVerdictPrefix = "\nfp4lab-evalplus ";

// The checker; the program is "_FP4LAB_SPEC = json.loads(<spec>)" followed by this text (see the header).
constexpr std::string_view kChecker = R"PY(
import contextlib, copy, io, json, math, numbers, os, signal, sys, time


class _Alarm(BaseException):
    pass


def _on_alarm(signum, frame):
    raise _Alarm()


@contextlib.contextmanager
def _quiet():
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        yield


# evalplus mbpp_deserialize_inputs: which MBPP+ tasks store tuples, sets or complex numbers as JSON lists/strings.
def _tuples_deep(value):
    return tuple(_tuples_deep(v) for v in value) if isinstance(value, list) else value


def _mbpp_inputs(number, inputs):
    if number in (2, 116, 132, 143, 222, 261, 273, 394, 399, 421, 424, 429, 470, 560, 579, 596, 616, 630, 726, 740,
                  744, 809):
        return [[tuple(arg) for arg in inp] for inp in inputs]
    if number in (63, 64, 70, 94, 120, 237, 272, 299, 400, 409, 417, 438, 473, 614, 780):
        return [[[tuple(item) for item in arg] for arg in inp] for inp in inputs]
    if number in (75, 413, 444, 753):
        return [[[tuple(item) for item in inp[0]], inp[1]] for inp in inputs]
    if number in (106, 750):
        return [[inp[0], tuple(inp[1])] for inp in inputs]
    if number == 115:
        return [[[set(item) if isinstance(item, list) and item else {} for item in inp[0]]] for inp in inputs]
    if number == 124:
        return [(float(inp[0]), complex(inp[1])) for inp in inputs]
    if number in (250, 405, 446, 617, 720, 763, 808):
        return [[tuple(inp[0]), inp[1]] for inp in inputs]
    if number in (259, 401, 445):
        return [[tuple(tuple(item) for item in arg) for arg in inp] for inp in inputs]
    if number == 278:
        return [[tuple(tuple(item) if isinstance(item, list) else item for item in inp[0])] for inp in inputs]
    if number == 307:
        return [[tuple(inp[0]), inp[1], inp[2]] for inp in inputs]
    if number == 722:
        return [[{key: tuple(value) for key, value in inp[0].items()}] + inp[1:] for inp in inputs]
    if number == 252:
        return [[complex(inp[0])] for inp in inputs]
    if number in (580, 615, 791):
        return [_tuples_deep(inp) for inp in inputs]
    return inputs


_MBPP_SET_EQUAL = {"similar_elements", "find_char_long", "common_in_nested_lists", "extract_singly", "larg_nnum",
                   "intersection_array", "find_dissimilar", "Diff"}
_MBPP_NOT_NONE = {"check_str", "text_match_three", "text_starta_endb"}


def _poly(xs, x):
    return sum(coeff * math.pow(x, i) for i, coeff in enumerate(xs))


def _surface_area(base_edge, height):
    slant = math.sqrt((base_edge / 2) ** 2 + height ** 2)
    return round(base_edge ** 2 + 2 * base_edge * slant)


def _digit_distance(a, b):
    sa, sb = str(a), str(b)
    width = max(len(sa), len(sb))
    return sum(abs(int(x) - int(y)) for x, y in zip(sa.zfill(width), sb.zfill(width)))


def _is_floats(x):
    if isinstance(x, float):
        return True
    return isinstance(x, (list, tuple)) and len(x) > 0 and all(isinstance(i, float) for i in x)


def _all_close(out, exp, atol):
    # numpy.allclose(out, exp, rtol=1e-07, atol=atol) for the numbers and flat or nested sequences evalplus compares.
    if isinstance(out, (list, tuple)) or isinstance(exp, (list, tuple)):
        if not (isinstance(out, (list, tuple)) and isinstance(exp, (list, tuple))) or len(out) != len(exp):
            return False
        return all(_all_close(o, e, atol) for o, e in zip(out, exp))
    if not (isinstance(out, numbers.Number) and isinstance(exp, numbers.Number)):
        return False
    if isinstance(out, float) and isinstance(exp, float) and (math.isinf(out) or math.isinf(exp)):
        return out == exp
    return abs(out - exp) <= atol + 1e-07 * abs(exp)


def _passes(spec, inp, out, exp, atol):
    # True when `out` is accepted for `exp` (evalplus unsafe_execute), and the atol in force afterwards.
    entry = spec["entry_point"]
    same = out == exp
    if spec["dataset"] == "mbpp":
        if entry == "are_equivalent":
            same = True
        elif entry == "sum_div":
            same = same or out == 0
        elif entry == "surface_Area":
            same = same or abs(out - _surface_area(*inp)) <= atol
        elif entry == "digit_distance_nums":
            same = same or out == _digit_distance(*inp)
        elif entry in _MBPP_SET_EQUAL:
            same = set(out) == set(exp)
        elif entry in _MBPP_NOT_NONE:
            same = out == exp if isinstance(out, bool) else exp == (out is not None)
    if spec["dataset"] == "humaneval" and entry == "find_zero":
        return abs(_poly(*inp, out)) <= atol, atol
    if atol == 0 and _is_floats(exp):
        atol = 1e-6
    if not same and atol != 0:
        if type(out) != type(exp):
            return False, atol
        if isinstance(exp, (list, tuple)) and len(out) != len(exp):
            return False, atol
        return _all_close(out, exp, atol), atol
    return bool(same), atol


def _inputs(spec, key):
    inputs = json.loads(spec["record"])[key]
    if spec["dataset"] == "mbpp":
        inputs = _mbpp_inputs(int(spec["task_id"].split("/")[-1]), inputs)
    return inputs


def _ground_truth(spec, inputs):
    scope = {}
    with _quiet():
        exec(spec["prompt"] + spec["canonical_solution"], scope)
    reference = scope[spec["entry_point"]]
    outputs, seconds = [], []
    for inp in inputs:
        start = time.time()
        with _quiet():
            out = reference(*copy.deepcopy(inp))
        seconds.append(time.time() - start)
        outputs.append(out is not None if spec["entry_point"] in _MBPP_NOT_NONE else out)
    return outputs, seconds


def _phase(spec, fn, inputs, expected, seconds):
    # ("pass" | "fail" | "timeout", message): evalplus untrusted_check with fast_check.
    limits = [max(spec["min_time_limit"], spec["time_limit_factor"] * t) for t in seconds]
    budget = min(spec["phase_cap"], sum(limits)) + 2.0
    start = time.monotonic()
    atol = spec["atol"]
    for i, inp in enumerate(inputs):
        left = budget - (time.monotonic() - start)
        if left <= 0:
            return "timeout", "the tests took longer than %.1f s" % budget
        limit = min(limits[i], left)
        try:
            signal.setitimer(signal.ITIMER_REAL, limit)
            try:
                with _quiet():
                    out = fn(*inp)
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
            ok, atol = _passes(spec, inp, out, expected[i], atol)
        except _Alarm:
            if limit < limits[i]:
                return "timeout", "the tests took longer than %.1f s" % budget
            return "fail", "test %d exceeded its time limit of %.2f s" % (i, limits[i])
        except BaseException as e:
            return "fail", "test %d raised %s: %s" % (i, type(e).__name__, str(e)[:200])
        if not ok:
            return "fail", "test %d: wrong output for input %s" % (i, repr(inp)[:200])
    return "pass", ""


def _main(spec):
    signal.signal(signal.SIGALRM, _on_alarm)
    phases = ("base", "plus")
    inputs = {p: _inputs(spec, p + "_input") for p in phases}
    truth = {p: _ground_truth(spec, inputs[p]) for p in phases}
    verdict = {"base": "fail", "plus": "fail", "message": ""}
    scope = {}
    try:
        with _quiet():
            exec(spec["solution"], scope)
        fn = scope[spec["entry_point"]]
    except BaseException as e:
        verdict["message"] = "the solution does not define %s: %s: %s" % (spec["entry_point"], type(e).__name__,
                                                                            str(e)[:200])
        fn = None
    if fn is not None:
        for p in phases:
            status, message = _phase(spec, fn, inputs[p], truth[p][0], truth[p][1])
            verdict[p] = status
            if message and not verdict["message"]:
                verdict["message"] = p + ": " + message
    os.write(1, ("\nfp4lab-evalplus " + json.dumps(verdict) + "\n").encode())
    os._exit(0 if verdict["base"] == verdict["plus"] == "pass" else 1)


_main(_FP4LAB_SPEC)
)PY";

}  // namespace

SandboxLimits EvalPlusSandboxLimits() {
  SandboxLimits limits;
  limits.wall_timeout_s = 240.0;
  limits.cpu_seconds = 240;
  return limits;
}

std::string BuildEvalPlusProgram(const HumanEvalProblem& problem, EvalPlusDataset dataset, std::string_view solution) {
  const nlohmann::json spec = {{"dataset", dataset == EvalPlusDataset::kMbpp ? "mbpp" : "humaneval"},
                               {"task_id", problem.task_id},
                               {"entry_point", problem.entry_point},
                               {"prompt", problem.prompt},
                               {"canonical_solution", problem.canonical_solution},
                               {"record", problem.evalplus_json},
                               {"atol", problem.atol},
                               {"solution", std::string(solution)},
                               {"min_time_limit", kEvalPlusMinTimeLimitS},
                               {"time_limit_factor", kEvalPlusTimeLimitFactor},
                               {"phase_cap", kEvalPlusPhaseCapS}};
  // A JSON string is a valid Python string literal (nlohmann escapes only ", \ and control characters).
  std::string program = "import json\n_FP4LAB_SPEC = json.loads(";
  program += nlohmann::json(spec.dump()).dump();
  program += ")\n";
  program += kChecker;
  return program;
}

std::vector<SandboxRunResult> RunEvalPlusPrograms(const CodeSandbox& sandbox, std::span<const std::string> programs,
                                                  std::vector<EvalPlusVerdict>* verdicts) {
  std::vector<SandboxRunResult> runs = sandbox.RunAll(programs);
  verdicts->assign(runs.size(), EvalPlusVerdict{});
  for (size_t i = 0; i < runs.size(); ++i) {
    SandboxRunResult& run = runs[i];
    const size_t at = run.stdout_tail.rfind(kVerdictPrefix);
    if (at == std::string::npos) {
      if (run.outcome == SandboxOutcome::kPassed) {
        run.outcome = SandboxOutcome::kFailed;
        run.message = "exited before its verdict (sys.exit, os._exit or SystemExit in the program)";
      }
      continue;
    }
    const size_t start = at + kVerdictPrefix.size();
    const size_t end = run.stdout_tail.find('\n', start);
    // The program's output is untrusted (the completion can print anything): parsed with the depth bound.
    const auto parsed = ParseJsonBounded(
        std::string_view(run.stdout_tail).substr(start, end == std::string::npos ? end : end - start), "verdict line");
    const nlohmann::json verdict = parsed.ok() ? *parsed : nlohmann::json();
    if (!verdict.is_object() || !verdict.value("base", nlohmann::json()).is_string() ||
        !verdict.value("plus", nlohmann::json()).is_string()) {
      run.outcome = SandboxOutcome::kFailed;
      run.message = "unreadable verdict line";
      continue;
    }
    EvalPlusVerdict& v = (*verdicts)[i];
    v.base = verdict["base"].get<std::string>();
    v.plus = verdict["plus"].get<std::string>();
    const bool passed = v.base == "pass" && v.plus == "pass";
    const bool timed_out = v.base == "timeout" || v.plus == "timeout";
    run.outcome = passed ? SandboxOutcome::kPassed : timed_out ? SandboxOutcome::kTimedOut : SandboxOutcome::kFailed;
    run.message = passed ? "" : verdict.value("message", std::string());
  }
  return runs;
}

}  // namespace fp4lab
