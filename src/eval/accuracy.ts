/** A share with its 95% confidence interval. */
export interface Rate {
  readonly correct: number;
  readonly total: number;
  /** correct / total, 0 when total is 0. */
  readonly rate: number;
  /** Wilson score interval at 95%, as fractions. */
  readonly ci95: readonly [number, number];
}

export interface Confusion {
  /** The true class. */
  readonly label: number;
  /** What the model answered first instead. */
  readonly predicted: number;
  readonly count: number;
}

export interface AccuracySummary {
  readonly images: number;
  readonly top1: Rate;
  readonly top5: Rate;
  /** The most frequent (true → predicted) top-1 mistakes, most frequent first. */
  readonly confusions: readonly Confusion[];
}

/** 1.96: the two-sided 95% normal quantile (Φ⁻¹(0.975) = 1.959964). */
const Z95 = 1.959964;
export const MAX_CONFUSIONS = 10;

/**
 * The Wilson score interval (Wilson 1927; Brown, Cai & DasGupta 2001 recommend it over the normal approximation):
 * it stays inside [0, 1] and is honest at 100% or 0% accuracy, where the normal one collapses to zero width.
 */
export function rate(correct: number, total: number, z = Z95): Rate {
  if (total === 0) return { correct, total, rate: 0, ci95: [0, 1] };
  const p = correct / total;
  const z2 = z * z;
  const centre = (p + z2 / (2 * total)) / (1 + z2 / total);
  const half = (z * Math.sqrt((p * (1 - p)) / total + z2 / (4 * total * total))) / (1 + z2 / total);
  // At 0% or 100% one bound is exactly 0 or 1; computed, it misses by a rounding error.
  const low = correct === 0 ? 0 : Math.max(0, centre - half);
  const high = correct === total ? 1 : Math.min(1, centre + half);
  return { correct, total, rate: p, ci95: [low, high] };
}

/** Counts top-1/top-5 hits and top-1 confusions, one image at a time, in memory bounded by the class pairs seen. */
export class AccuracyTally {
  #images = 0;
  #top1 = 0;
  #top5 = 0;
  readonly #confusions = new Map<string, Confusion>();

  /** @param ranked - class indices, best first (at least one). */
  add(label: number, ranked: readonly number[]): void {
    this.#images++;
    const first = ranked[0];
    if (first === label) this.#top1++;
    else if (first !== undefined) {
      const key = `${label}>${first}`;
      const seen = this.#confusions.get(key);
      this.#confusions.set(key, { label, predicted: first, count: (seen?.count ?? 0) + 1 });
    }
    if (ranked.slice(0, 5).includes(label)) this.#top5++;
  }

  summary(maxConfusions = MAX_CONFUSIONS): AccuracySummary {
    const confusions = [...this.#confusions.values()]
      .sort((a, b) => b.count - a.count || a.label - b.label || a.predicted - b.predicted)
      .slice(0, maxConfusions);
    return { images: this.#images, top1: rate(this.#top1, this.#images), top5: rate(this.#top5, this.#images), confusions };
  }
}
