/**
 * A benchmark's goals and whether this run met them, printed the same way by
 * every bench at the end of its summary (the goals are in docs/benchmarks.md):
 *
 *   goal: 32 B tidewire / msgpackr >= 0.90x; this run 0.86x: NOT met
 *   bench/wire: 2 of 3 goals met
 *
 * A bench without a goal says so (`printGoals(name, [])`), so that a reader
 * never wonders whether one was left out.
 */

export interface Goal {
  /** What is measured, as the summary names it: "32 B tidewire / msgpackr". */
  readonly what: string;
  /** This run's figure; NaN (nothing measured) never meets a goal. */
  readonly value: number;
  readonly bound: '>=' | '<=';
  readonly target: number;
  /** How value and target print; default a ratio, `0.86x`. */
  readonly format?: (n: number) => string;
}

/** A ratio as the benches print it: `0.86x`. */
export function ratioText(n: number): string {
  return `${n.toFixed(2)}x`;
}

/** Milliseconds, `48.3 ms`. */
export function msText(n: number): string {
  return `${n.toFixed(1)} ms`;
}

export function goalMet(goal: Goal): boolean {
  if (Number.isNaN(goal.value)) return false;
  return goal.bound === '>=' ? goal.value >= goal.target : goal.value <= goal.target;
}

export function goalLine(goal: Goal): string {
  const format = goal.format ?? ratioText;
  const value = Number.isNaN(goal.value) ? 'not measured' : format(goal.value);
  return `goal: ${goal.what} ${goal.bound} ${format(goal.target)}; this run ${value}: ${goalMet(goal) ? 'met' : 'NOT met'}`;
}

/** Prints one line per goal and a count; returns whether every goal was met. */
export function printGoals(bench: string, goals: readonly Goal[]): boolean {
  if (goals.length === 0) {
    console.log(`bench/${bench}: no goal is set (the ratio is recorded in docs/benchmarks.md)`);
    return true;
  }
  for (const goal of goals) console.log(goalLine(goal));
  const met = goals.filter(goalMet).length;
  console.log(`bench/${bench}: ${met} of ${goals.length} goal${goals.length === 1 ? '' : 's'} met`);
  return met === goals.length;
}
