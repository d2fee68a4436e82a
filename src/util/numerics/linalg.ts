// Dense linear algebra for the small systems of curve fitting (a handful of unknowns):
// matrices are row-major Float64Arrays of p×p, and symmetric ones are read from their
// lower triangle only.

/**
 * Solves M x = b for symmetric positive definite M (p×p, lower triangle used) by Cholesky
 * factorisation, writing x. Returns false, with x unspecified, if M is not positive definite.
 */
export function choleskySolve(M: Float64Array, b: Float64Array, x: Float64Array, p: number): boolean {
  const L = new Float64Array(p * p);
  for (let j = 0; j < p; j++) {
    for (let k = 0; k <= j; k++) {
      let s = M[j * p + k];
      for (let t = 0; t < k; t++) s -= L[j * p + t] * L[k * p + t];
      if (j === k) {
        if (!(s > 0)) return false;
        L[j * p + j] = Math.sqrt(s);
      } else {
        L[j * p + k] = s / L[k * p + k];
      }
    }
  }
  for (let j = 0; j < p; j++) {
    let s = b[j];
    for (let t = 0; t < j; t++) s -= L[j * p + t] * x[t];
    x[j] = s / L[j * p + j];
  }
  for (let j = p - 1; j >= 0; j--) {
    let s = x[j];
    for (let t = j + 1; t < p; t++) s -= L[t * p + j] * x[t];
    x[j] = s / L[j * p + j];
  }
  return true;
}

/** Inverse of a symmetric positive definite p×p matrix (lower triangle used); null if not PD or not finite. */
export function invertSymmetric(M: Float64Array, p: number): Float64Array | null {
  const inv = new Float64Array(p * p), col = new Float64Array(p), e = new Float64Array(p);
  for (let j = 0; j < p; j++) {
    e.fill(0);
    e[j] = 1;
    if (!choleskySolve(M, e, col, p)) return null;
    for (let k = 0; k < p; k++) inv[k * p + j] = col[k];
  }
  return inv.every(Number.isFinite) ? inv : null;
}

/**
 * min over c ≥ 0 of |Σ_k c_k·columns[k] − target|², for a few columns (the cost doubles with
 * each): unconstrained least squares from the normal equations on every subset of the columns,
 * keeping the best whose coefficients are all > 0. Coefficients outside the chosen subset are
 * 0; with no admissible subset all are 0 and err = |target|². A relative ridge of 1e-12 on the
 * diagonal keeps nearly collinear columns solvable.
 */
export function nonNegativeLeastSquares(columns: Float64Array[], target: ArrayLike<number>): { c: number[]; err: number } {
  const q = columns.length, n = target.length;
  // Gram matrix G = ZᵀZ (lower triangle), h = Zᵀy and yᵀy, each entry summed in point order.
  const G = new Float64Array(q * q), h = new Float64Array(q);
  let yy = 0;
  for (let i = 0; i < n; i++) yy += target[i] * target[i];
  for (let j = 0; j < q; j++) {
    const zj = columns[j];
    let sy = 0;
    for (let i = 0; i < n; i++) sy += zj[i] * target[i];
    h[j] = sy;
    for (let k = 0; k <= j; k++) {
      const zk = columns[k];
      let s = 0;
      for (let i = 0; i < n; i++) s += zj[i] * zk[i];
      G[j * q + k] = s;
    }
  }
  let best: { c: number[]; err: number } = { c: new Array(q).fill(0), err: yy };
  for (let mask = 1; mask < 1 << q; mask++) {
    const use = [...Array(q).keys()].filter((k) => mask & (1 << k));
    const s = use.length;
    const M = new Float64Array(s * s), b = new Float64Array(s), x = new Float64Array(s);
    for (let j = 0; j < s; j++) {
      b[j] = h[use[j]];
      for (let k = 0; k <= j; k++) M[j * s + k] = G[use[j] * q + use[k]] * (j === k ? 1 + 1e-12 : 1);
    }
    if (!choleskySolve(M, b, x, s) || x.some((v) => !(v > 0))) continue;
    // |Zc − y|² = cᵀGc − 2hᵀc + yᵀy, and at the least-squares solution cᵀGc = hᵀc.
    let hc = 0;
    for (let j = 0; j < s; j++) hc += b[j] * x[j];
    const err = yy - hc;
    if (err < best.err) {
      const c = new Array(q).fill(0);
      use.forEach((k, j) => (c[k] = x[j]));
      best = { c, err };
    }
  }
  return best;
}

/**
 * Least-squares polynomial y ≈ c0 + c1·x + … + c_d·x^d through the normal equations, x centred
 * on its mean for conditioning and the coefficients shifted back. Null when the points cannot
 * determine the degree (fewer than d + 1 distinct x).
 */
export function polynomialFit(x: ArrayLike<number>, y: ArrayLike<number>, degree: number): number[] | null {
  const n = x.length, p = degree + 1;
  let m = 0;
  for (let i = 0; i < n; i++) m += x[i] / n;
  const M = new Float64Array(p * p), b = new Float64Array(p), u = new Float64Array(p);
  for (let i = 0; i < n; i++) {
    const t = x[i] - m;
    for (let j = 0; j < p; j++) {
      const tj = t ** j;
      b[j] += y[i] * tj;
      for (let k = 0; k <= j; k++) M[j * p + k] += tj * t ** k;
    }
  }
  if (!choleskySolve(M, b, u, p)) return null;
  // Σ u_j (x − m)^j expanded in powers of x
  const c = new Array<number>(p).fill(0);
  for (let j = 0; j < p; j++) {
    let binom = 1;
    for (let k = 0; k <= j; k++) {
      c[k] += u[j] * binom * (-m) ** (j - k);
      binom = (binom * (j - k)) / (k + 1);
    }
  }
  return c;
}
