"""Prove the assignments' autograder tests are real (run by CI; `make check-assignments`).

For every master in ``assignments/`` (see tools/make_assignments.py):

1. **Reproducible.** The student versions and grading bundles are generated twice into
   separate folders and must be byte-for-byte identical.
2. **No leaks.** No solution line of the master (inside ``# BEGIN SOLUTION`` …
   ``# END SOLUTION``) and no line of a hidden test appears in the student notebook —
   otter assign ships a solution line outside a marked block without complaint. As a
   control, the same check must flag the instructor version.
3. **Instructor version passes.** Graded with ``otter.api.grade_submission`` against
   the bundle (hidden tests included): every test case passes, full marks.
4. **Student version fails exactly where the solutions were removed.** The student
   notebook runs top to bottom with no error outside the tests (nbclient); graded, every
   question scores 0 and every one of its test cases fails.
5. **Each test targets its own question.** For each question q, the instructor notebook
   with only q's solution cells replaced by the student's stubs is graded: q's test
   cases all fail, every other question keeps full marks.

``otter check`` / ``otter run`` exit 0 even when tests fail, so this script reads the
scores and asserts them. Usage: python tools/check_assignments.py [--quick] [--compare-with DIR]
(--quick skips steps 1 and 5; --compare-with also requires DIR, e.g. the output of
`make assignments`, to equal this run's generation).
"""

from __future__ import annotations

import argparse
import copy
import filecmp
import json
import re
import shutil
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_assignments

ANSWER_TAG, SOLUTION_TAG = "otter_answer_cell", "otter_assign_solution_cell"
CHECK = re.compile(r'grader\.check\("([^"]+)"\)')


def question_of_cells(nb: nbformat.NotebookNode, tag: str) -> list[tuple[int, str]]:
    """(index, question) of every cell tagged ``tag``: the question is the next grader.check."""
    out, pending = [], []
    for i, cell in enumerate(nb.cells):
        if tag in cell.metadata.get("tags", []):
            pending.append(i)
        m = CHECK.search(cell.source) if cell.cell_type == "code" else None
        if m:
            out += [(j, m.group(1)) for j in pending]
            pending = []
    if pending:
        raise AssertionError(f"cells {pending} tagged {tag} are not followed by a grader.check cell")
    return out


def grade(notebook: str, bundle: str) -> dict[str, tuple[float, float, list[bool]]]:
    """{question: (score, possible, [passed per test case])} from otter's grading."""
    import os

    from otter.api import grade_submission

    os.environ.setdefault("MPLBACKEND", "Agg")
    results = grade_submission(notebook, bundle, quiet=True)
    return {
        q: (float(r.score), float(r.possible), [bool(t.passed) for t in r.test_case_results])
        for q, r in results.results.items()
    }


def run_clean(folder: str, notebook: str) -> None:
    """Execute a notebook top to bottom in its folder; raise on any cell error."""
    from nbclient import NotebookClient

    nb = nbformat.read(Path(folder) / notebook, as_version=4)
    for attempt in range(3):
        try:
            NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": folder}}).execute()
            return
        except RuntimeError as err:
            # Two kernels starting at once can draw the same random TCP port ("Address already in use"): the
            # kernel then dies before it answers. That is the machine, not the notebook: start it again. A
            # cell's error is not retried.
            if "Kernel died before replying to kernel_info" not in str(err) or attempt == 2:
                raise


def solution_lines(master: Path) -> list[str]:
    """Lines inside the in-code ``# BEGIN SOLUTION`` / ``# END SOLUTION`` markers (and ``# SOLUTION`` lines)."""
    import jupytext

    code = [c.source for c in jupytext.read(master, fmt="md:myst").cells if c.cell_type == "code"]
    lines, inside = [], False
    for raw in "\n".join(code).splitlines():
        line = raw.strip()
        if line.endswith("# BEGIN SOLUTION"):
            inside = True
        elif line.endswith("# END SOLUTION"):
            inside = False
        elif inside and len(line) >= 6:
            lines.append(line)
        elif line.endswith("# SOLUTION"):
            lines.append(line.removesuffix("# SOLUTION").strip())
    return lines


def hidden_test_lines(master_nb: nbformat.NotebookNode) -> list[str]:
    hidden = [c for c in master_nb.cells if c.cell_type == "code" and c.source.lstrip().startswith("# HIDDEN")]
    others = {ln.strip() for c in master_nb.cells if c not in hidden for ln in c.source.splitlines()}
    return [ln.strip() for c in hidden for ln in c.source.splitlines()[1:] if ln.strip() and ln.strip() not in others]


def check_leaks(master: Path, student: Path) -> list[str]:
    import jupytext

    student_nb = nbformat.read(student, as_version=4)
    student_lines = {ln.strip() for c in student_nb.cells for ln in c.source.splitlines()}
    metadata_text = json.dumps(student_nb.metadata)
    problems = []
    sol = solution_lines(master)
    if not sol:
        problems.append(f"{master.name}: no solution lines found (mark them with # BEGIN/END SOLUTION)")
    for line in sol:
        if line in student_lines or json.dumps(line)[1:-1] in metadata_text:
            problems.append(f"{master.name}: solution line leaked to the student version: {line!r}")
    for line in hidden_test_lines(jupytext.read(master, fmt="md:myst")):
        if line in student_lines or json.dumps(line)[1:-1] in metadata_text:
            problems.append(f"{master.name}: hidden test line leaked to the student version: {line!r}")
    return problems


def same_tree(a: Path, b: Path) -> list[str]:
    cmp = filecmp.dircmp(a, b)
    out = [f"{a / n}: only in one build" for n in cmp.left_only + cmp.right_only]
    for name in cmp.common_files:
        if not filecmp.cmp(a / name, b / name, shallow=False):
            out.append(f"{a / name}: differs between two generations")
    for sub in cmp.common_dirs:
        out += same_tree(a / sub, b / sub)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="skip the reproducibility and per-question checks")
    parser.add_argument("--compare-with", type=Path, help="an earlier `make assignments` output that must be identical")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    problems: list[str] = []
    masters = make_assignments.masters()
    if not masters:
        print("no assignments to check")
        return 1
    with tempfile.TemporaryDirectory(prefix="check-assignments-") as tmp:
        first, second, work = Path(tmp, "a"), Path(tmp, "b"), Path(tmp, "work")
        builds = [(m, first) for m in masters] + ([] if args.quick else [(m, second) for m in masters])
        with ThreadPoolExecutor(max_workers=2) as threads:  # otter assign runs in a subprocess
            list(threads.map(lambda job: make_assignments.build(*job), builds))
        if not args.quick:
            problems += same_tree(first, second)
        if args.compare_with:
            problems += same_tree(first, args.compare_with)
        print(f"[{time.perf_counter() - t0:.0f}s] generated {len(masters)} assignments"
              + ("" if args.quick else " twice"))

        jobs, expected = [], []  # (notebook, bundle), {question: should pass}
        for master in masters:
            name = master.stem
            out = first / name
            student, instructor = out / "student" / f"{name}.ipynb", out / "autograder" / f"{name}.ipynb"
            bundle = str(out / "autograder" / f"{name}-autograder.zip")
            problems += check_leaks(master, student)
            if not check_leaks(master, instructor):  # control: the instructor version must "leak"
                problems.append(f"{name}: the leak check finds nothing even in the instructor version: it is blind")

            inst_nb, stud_nb = nbformat.read(instructor, as_version=4), nbformat.read(student, as_version=4)
            solutions, answers = question_of_cells(inst_nb, SOLUTION_TAG), question_of_cells(stud_nb, ANSWER_TAG)
            if [q for _, q in solutions] != [q for _, q in answers]:
                problems.append(f"{name}: solution cells {solutions} do not match the student's answer cells {answers}")
                continue
            questions = list(dict.fromkeys(q for _, q in solutions))
            jobs.append((name, "instructor", str(instructor), bundle))
            expected.append(dict.fromkeys(questions, True))
            jobs.append((name, "student", str(student), bundle))
            expected.append(dict.fromkeys(questions, False))
            if args.quick:
                continue
            for q in questions:
                mutant = copy.deepcopy(inst_nb)
                for (i, qi), (j, _) in zip(solutions, answers, strict=True):
                    if qi == q:
                        mutant.cells[i] = copy.deepcopy(stud_nb.cells[j])
                folder = work / f"{name}-without-{q}"
                folder.mkdir(parents=True)
                nbformat.write(mutant, folder / f"{name}.ipynb")
                jobs.append((name, f"instructor without {q}", str(folder / f"{name}.ipynb"), bundle))
                expected.append({qq: qq != q for qq in questions})

        with ProcessPoolExecutor(max_workers=2) as pool:
            clean_runs = {}
            for master in masters:
                folder = work / f"{master.stem}-student-run"
                shutil.copytree(first / master.stem / "student", folder)
                clean_runs[master.stem] = pool.submit(run_clean, str(folder), f"{master.stem}.ipynb")
            graded = [pool.submit(grade, nb, bundle) for _, _, nb, bundle in jobs]
            for name, future in clean_runs.items():
                try:
                    future.result()
                except Exception as err:  # report every notebook, then fail
                    problems.append(f"{name}: the student version errors outside its tests: {err}")
            for (name, label, _, _), future, want in zip(jobs, graded, expected, strict=True):
                scores = future.result()
                if set(scores) != set(want):
                    problems.append(f"{name} ({label}): graded questions {sorted(scores)} != {sorted(want)}")
                    continue
                for q, should_pass in want.items():
                    score, possible, passed = scores[q]
                    ok = (score == possible and all(passed)) if should_pass else (score == 0 and not any(passed))
                    state = "pass" if should_pass else "fail"
                    print(f"  {name:<18} {label:<24} {q}: {score:g}/{possible:g}, "
                          f"{sum(passed)}/{len(passed)} test cases pass (should {state})"
                          + ("" if ok else "  <-- WRONG"))
                    if not ok:
                        problems.append(f"{name} ({label}): {q} should {state} but scored {score}/{possible}, "
                                        f"test cases passed: {passed}")
    for p in problems:
        print("PROBLEM:", p)
    print(f"[{time.perf_counter() - t0:.0f}s] {len(masters)} assignments, {len(jobs)} gradings: "
          f"{len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
