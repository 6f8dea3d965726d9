"""Fit a model written as a plain Python loop by least squares.

A damped oscillator x'' = -k x - c x', integrated by explicit Euler steps in
a Python loop over scalars, is fitted to noisy samples of its position:
fastad.optimize.least_squares records the loop once and gives scipy the
Jacobian of the residuals by replaying the tape (forward sweep, in C).

    python examples/least_squares_loop.py
"""
import time

import numpy as np

import fastad as fd
import fastad.numpy as fnp

STEPS, DT, EVERY = 400, 0.025, 10


def simulate(theta):
    """Positions every EVERY steps of the oscillator with stiffness k, damping
    c and initial position x0 (theta = [k, c, x0]), started at rest."""
    k, c, position = theta[0], theta[1], theta[2]
    velocity = 0.0
    samples = []
    for step in range(1, STEPS + 1):
        acceleration = -k * position - c * velocity
        position = position + DT * velocity
        velocity = velocity + DT * acceleration
        if step % EVERY == 0:
            samples.append(position)
    return fnp.stack(samples)


def main(argv=None, seed=0):
    truth = np.array([4.0, 0.3, 1.5])
    rng = np.random.default_rng(seed)
    data = simulate(truth) + 0.01 * rng.standard_normal(STEPS // EVERY)

    def residuals(theta):
        return simulate(theta) - data
    start = time.perf_counter()
    fit = fd.optimize.least_squares(residuals, np.array([2.0, 1.0, 1.0]))
    seconds = time.perf_counter() - start
    print("fitted k = %.4f, c = %.4f, x0 = %.4f (truth 4, 0.3, 1.5) in %d evaluations, %.0f ms"
          % (*fit.x, fit.nfev, 1e3 * seconds))
    return fit, truth


if __name__ == "__main__":
    main()
