/* Truncated Taylor series through the scalar opcodes.
 *
 * A series is the d + 1 coefficients y_0 .. y_d of t -> y(t) at t = 0.  Each
 * opcode maps its operands' series to its result's by the classic
 * recurrences (Griewank and Walther, "Evaluating Derivatives", ch. 13):
 * products by convolution, quotients by back-substitution, and elementary
 * functions through the linear ODE they satisfy, e.g. y = exp(x) has
 * y' = y x', so k y_k = sum_{j=1..k} j x_j y_{k-j}.
 */
#include "fastad_tape.h"
#include "fastad_math.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void s_mul(const double *a, const double *b, double *y, int d)
{
    for (int k = d; k >= 0; --k) { /* downwards: y may alias a or b */
        double acc = 0.0;
        for (int j = 0; j <= k; ++j)
            acc += a[j] * b[k - j];
        y[k] = acc;
    }
}

static void s_div(const double *a, const double *b, double *y, int d)
{
    for (int k = 0; k <= d; ++k) {
        double acc = a[k];
        for (int j = 1; j <= k; ++j)
            acc -= b[j] * y[k - j];
        y[k] = acc / b[0];
    }
}

/* y' = y x' (exp), y_0 given */
static void s_exp(const double *x, double *y, int d, double y0)
{
    y[0] = y0;
    for (int k = 1; k <= d; ++k) {
        double acc = 0.0;
        for (int j = 1; j <= k; ++j)
            acc += j * x[j] * y[k - j];
        y[k] = acc / k;
    }
}

/* r y' = x' with the series r given (log: r = x; arcsin: r = sqrt(1 - x^2)...) */
static void s_ode_quotient(const double *x, const double *r, double *y, int d, double y0)
{
    y[0] = y0;
    for (int k = 1; k <= d; ++k) {
        double acc = k * x[k];
        for (int j = 1; j < k; ++j)
            acc -= j * y[j] * r[k - j];
        y[k] = acc / (k * r[0]);
    }
}

/* y = x ** c for x_0 != 0: x y' = c y x' */
static void s_powc(const double *x, double *y, int d, double c, double y0)
{
    y[0] = y0;
    for (int k = 1; k <= d; ++k) {
        double acc = 0.0;
        for (int j = 0; j < k; ++j)
            acc += (c * (k - j) - j) * x[k - j] * y[j];
        y[k] = acc / (k * x[0]);
    }
}

/* y = sqrt(x): y^2 = x */
static void s_sqrt(const double *x, double *y, int d, double y0)
{
    y[0] = y0;
    for (int k = 1; k <= d; ++k) {
        double acc = x[k];
        for (int j = 1; j < k; ++j)
            acc -= y[j] * y[k - j];
        y[k] = acc / (2.0 * y0);
    }
}

/* u' = v x', v' = sign u x': (sin, cos) with sign -1, (sinh, cosh) with +1 */
static void s_sincos(const double *x, double *u, double *v, int d, double u0, double v0,
                     double sign)
{
    u[0] = u0;
    v[0] = v0;
    for (int k = 1; k <= d; ++k) {
        double au = 0.0, av = 0.0;
        for (int j = 1; j <= k; ++j) {
            au += j * x[j] * v[k - j];
            av += j * x[j] * u[k - j];
        }
        u[k] = au / k;
        v[k] = sign * av / k;
    }
}

/* y' = (1 + sign y^2) x': tan (sign +1) and tanh (sign -1) */
static void s_tan(const double *x, double *y, double *w, int d, double y0, double sign)
{
    y[0] = y0;
    for (int k = 1; k <= d; ++k) {
        double acc = (k == 1) ? 1.0 : 0.0;
        for (int i = 0; i <= k - 1; ++i)
            acc += sign * y[i] * y[k - 1 - i];
        w[k - 1] = acc;
        double sum = 0.0;
        for (int j = 1; j <= k; ++j)
            sum += j * x[j] * w[k - j];
        y[k] = sum / k;
    }
}

/* r = sqrt(p + q x^2) as a series, for the inverse trigonometric functions */
static void s_root_quadratic(const double *x, double *r, double *tmp, int d, double p,
                             double q, int take_root)
{
    s_mul(x, x, tmp, d);
    for (int k = 0; k <= d; ++k)
        tmp[k] *= q;
    tmp[0] += p;
    if (take_root)
        s_sqrt(tmp, r, d, sqrt(tmp[0]));
    else
        memcpy(r, tmp, (size_t)(d + 1) * sizeof(double));
}

int fa_series_unary(int opcode, const double *x, double *y, int d, double c, double *scratch)
{
    /* scratch: 3 (d + 1) doubles; y must not alias x */
    double *u = scratch, *v = scratch + (d + 1), *w = scratch + 2 * (d + 1);
    const double x0 = x[0];
    int k;
    switch (opcode) {
    case FA_ADDC: memcpy(y, x, (size_t)(d + 1) * sizeof(double)); y[0] = x0 + c; break;
    case FA_RSUBC: for (k = 0; k <= d; ++k) y[k] = -x[k]; y[0] = c - x0; break;
    case FA_MULC: for (k = 0; k <= d; ++k) y[k] = c * x[k]; break;
    case FA_DIVC: for (k = 0; k <= d; ++k) y[k] = x[k] / c; break;
    case FA_RDIVC:
        for (k = 0; k <= d; ++k) u[k] = (k == 0) ? c : 0.0;
        s_div(u, x, y, d);
        y[0] = c / x0;
        break;
    case FA_POWC:
        if (c == 0.0) {
            for (k = 0; k <= d; ++k) y[k] = (k == 0) ? 1.0 : 0.0;
        } else if (c == 1.0) {
            memcpy(y, x, (size_t)(d + 1) * sizeof(double));
        } else if (c == 2.0) {
            s_mul(x, x, y, d);
        } else if (x0 == 0.0 && c == floor(c) && c > 0 && c < 64) {
            /* integer power at 0: repeated products (the ODE divides by x_0) */
            memcpy(y, x, (size_t)(d + 1) * sizeof(double));
            for (int p = 1; p < (int)c; ++p)
                s_mul(y, x, y, d);
        } else {
            s_powc(x, y, d, c, pow(x0, c));
        }
        break;
    case FA_RPOWC: /* c ** x = exp(x log c) */
        for (k = 0; k <= d; ++k) u[k] = x[k] * log(c);
        s_exp(u, y, d, pow(c, x0));
        break;
    case FA_NEG: for (k = 0; k <= d; ++k) y[k] = -x[k]; break;
    case FA_ABS: {
        const double sg = x0 > 0 ? 1.0 : (x0 < 0 ? -1.0 : 0.0);
        for (k = 0; k <= d; ++k) y[k] = sg * x[k];
        y[0] = fabs(x0);
    } break;
    case FA_SIGN:
        y[0] = fa_eval_unary(FA_SIGN, x0);
        for (k = 1; k <= d; ++k) y[k] = 0.0;
        break;
    case FA_SQUARE: s_mul(x, x, y, d); break;
    case FA_SQRT: s_sqrt(x, y, d, sqrt(x0)); break;
    case FA_CBRT: s_powc(x, y, d, 1.0 / 3.0, cbrt(x0)); break;
    case FA_RECIPROCAL:
        for (k = 0; k <= d; ++k) u[k] = (k == 0) ? 1.0 : 0.0;
        s_div(u, x, y, d);
        y[0] = 1.0 / x0;
        break;
    case FA_EXP: s_exp(x, y, d, exp(x0)); break;
    case FA_EXP2:
        for (k = 0; k <= d; ++k) u[k] = x[k] * LN2;
        s_exp(u, y, d, exp2(x0));
        break;
    case FA_EXPM1: s_exp(x, y, d, exp(x0)); y[0] = expm1(x0); break;
    case FA_LOG: s_ode_quotient(x, x, y, d, log(x0)); break;
    case FA_LOG1P:
        memcpy(u, x, (size_t)(d + 1) * sizeof(double));
        u[0] = 1.0 + x0;
        s_ode_quotient(x, u, y, d, log1p(x0));
        break;
    case FA_LOG2: case FA_LOG10: {
        const double scale = opcode == FA_LOG2 ? LN2 : LN10;
        s_ode_quotient(x, x, y, d, 0.0);
        for (k = 1; k <= d; ++k) y[k] /= scale;
        y[0] = opcode == FA_LOG2 ? log2(x0) : log10(x0);
    } break;
    case FA_SIN: s_sincos(x, y, u, d, sin(x0), cos(x0), -1.0); break;
    case FA_COS: s_sincos(x, u, y, d, sin(x0), cos(x0), -1.0); break;
    case FA_SINH: s_sincos(x, y, u, d, sinh(x0), cosh(x0), 1.0); break;
    case FA_COSH: s_sincos(x, u, y, d, sinh(x0), cosh(x0), 1.0); break;
    case FA_TAN: s_tan(x, y, u, d, tan(x0), 1.0); break;
    case FA_TANH: s_tan(x, y, u, d, tanh(x0), -1.0); break;
    case FA_ASIN: /* sqrt(1 - x^2) y' = x' */
        s_root_quadratic(x, u, v, d, 1.0, -1.0, 1);
        s_ode_quotient(x, u, y, d, asin(x0));
        break;
    case FA_ACOS:
        s_root_quadratic(x, u, v, d, 1.0, -1.0, 1);
        s_ode_quotient(x, u, y, d, 0.0);
        for (k = 1; k <= d; ++k) y[k] = -y[k];
        y[0] = acos(x0);
        break;
    case FA_ATAN: /* (1 + x^2) y' = x' */
        s_root_quadratic(x, u, v, d, 1.0, 1.0, 0);
        s_ode_quotient(x, u, y, d, atan(x0));
        break;
    case FA_ASINH:
        s_root_quadratic(x, u, v, d, 1.0, 1.0, 1);
        s_ode_quotient(x, u, y, d, asinh(x0));
        break;
    case FA_ACOSH:
        s_root_quadratic(x, u, v, d, -1.0, 1.0, 1);
        s_ode_quotient(x, u, y, d, acosh(x0));
        break;
    case FA_ATANH: /* (1 - x^2) y' = x' */
        s_root_quadratic(x, u, v, d, 1.0, -1.0, 0);
        s_ode_quotient(x, u, y, d, atanh(x0));
        break;
    default:
        (void)w;
        return -1;
    }
    return 0;
}

int fa_series_binary(int opcode, const double *a, const double *b, double *y, int d,
                     double *scratch)
{
    /* scratch: 3 (d + 1) doubles; y must not alias a or b */
    double *u = scratch, *v = scratch + (d + 1), *w = scratch + 2 * (d + 1);
    int k;
    switch (opcode) {
    case FA_ADD: for (k = 0; k <= d; ++k) y[k] = a[k] + b[k]; break;
    case FA_SUB: for (k = 0; k <= d; ++k) y[k] = a[k] - b[k]; break;
    case FA_MUL: s_mul(a, b, y, d); break;
    case FA_DIV: s_div(a, b, y, d); y[0] = a[0] / b[0]; break;
    case FA_POW: /* a ** b = exp(b log a) */
        s_ode_quotient(a, a, u, d, log(a[0]));
        s_mul(b, u, v, d);
        s_exp(v, y, d, pow(a[0], b[0]));
        break;
    case FA_MAXIMUM: case FA_MINIMUM: {
        const double ans = fa_eval_binary(opcode, a[0], b[0]);
        const double wa = (a[0] == ans) ? (a[0] == b[0] ? 0.5 : 1.0) : 0.0;
        const double wb = (b[0] == ans) ? (a[0] == b[0] ? 0.5 : 1.0) : 0.0;
        for (k = 0; k <= d; ++k) y[k] = wa * a[k] + wb * b[k];
        y[0] = ans;
    } break;
    case FA_HYPOT: /* sqrt(a^2 + b^2) */
        s_mul(a, a, u, d);
        s_mul(b, b, v, d);
        for (k = 0; k <= d; ++k) u[k] += v[k];
        s_sqrt(u, y, d, hypot(a[0], b[0]));
        break;
    case FA_ATAN2: /* y' = (b a' - a b') / (a^2 + b^2) */
        s_mul(a, a, u, d);
        s_mul(b, b, v, d);
        for (k = 0; k <= d; ++k) u[k] += v[k];     /* r = a^2 + b^2 */
        for (k = 1; k <= d; ++k) {
            /* coefficient k-1 of (b a' - a b') / r, by back-substitution in w */
            double num = 0.0;
            for (int j = 1; j <= k; ++j)
                num += j * (b[k - j] * a[j] - a[k - j] * b[j]);
            for (int j = 1; j < k; ++j)
                num -= u[j] * w[k - 1 - j] * 1.0;
            w[k - 1] = num / u[0];
            y[k] = w[k - 1] / k;
        }
        y[0] = atan2(a[0], b[0]);
        break;
    default:
        if (FA_IS_COMPARISON(opcode)) {
            y[0] = fa_eval_binary(opcode, a[0], b[0]);
            for (k = 1; k <= d; ++k) y[k] = 0.0;
            break;
        }
        return -1;
    }
    return 0;
}

int64_t fa_taylor(const fa_tape *tape, double *series, int d, int64_t start, int64_t end,
                  double *scratch)
{
    const int64_t n = d + 1;
    for (int64_t i = start; i < end; ++i) {
        const uint8_t op = tape->opcode[i];
        if (op == FA_EXT || op == FA_ELEM)
            return i; /* the Cython layer holds the arrays' series */
        if (op == FA_LEAF)
            continue;
        double *y = series + i * n;
        const double *a = series + (int64_t)tape->operand0[i] * n;
        if (FA_IS_CONST_BINARY(op)) {
            fa_series_unary(op, a, y, d, tape->constants[tape->operand1[i]], scratch);
        } else if (FA_IS_BINARY(op) || FA_IS_COMPARISON(op)) {
            fa_series_binary(op, a, series + (int64_t)tape->operand1[i] * n, y, d, scratch);
        } else {
            fa_series_unary(op, a, y, d, 0.0, scratch);
        }
        y[0] = tape->primal[i]; /* the recorded primal, bit for bit */
    }
    return end;
}
