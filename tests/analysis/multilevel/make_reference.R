# Reference values for vakstem.analysis.multilevel, generated once with R and committed.
#
#   cd tests/analysis/multilevel && Rscript make_reference.R
#
# Writes sleepstudy.csv (lme4's data), clustered.csv (simulated, seeded: unbalanced clusters)
# and reference.json: lme4 random-intercept models (REML and ML), null-model ICCs, and
# cluster-robust OLS standard errors from sandwich::vcovCL (default HC1-type adjustment).
# R 4, lme4 1.1.31, sandwich 3.0.2, lmtest.
suppressPackageStartupMessages({
  library(lme4)
  library(sandwich)
  library(lmtest)
  library(jsonlite)
})

sleep <- lme4::sleepstudy
sleep$Subject <- as.character(sleep$Subject)
write.csv(sleep, "sleepstudy.csv", row.names = FALSE)

set.seed(20261126)
n_groups <- 40
sizes <- sample(4:16, n_groups, replace = TRUE)
g <- rep(sprintf("org%02d", seq_len(n_groups)), times = sizes)
u <- rep(rnorm(n_groups, sd = 0.6), times = sizes)
z <- rep(rnorm(n_groups), times = sizes)
x1 <- rnorm(length(g))
x2 <- round(0.7 * z + rnorm(length(g), sd = 0.7), 4)
x1 <- round(x1, 4)
y <- round(1 + 0.5 * x1 - 0.3 * x2 + u + rnorm(length(g)), 4)
clustered <- data.frame(g = g, x1 = x1, x2 = x2, y = y)
write.csv(clustered, "clustered.csv", row.names = FALSE)

sleep <- read.csv("sleepstudy.csv")
clustered <- read.csv("clustered.csv")

mixed_ref <- function(formula, data, reml) {
  m <- lmer(formula, data = data, REML = reml)
  vc <- as.data.frame(VarCorr(m))
  fe <- summary(m)$coefficients
  list(
    REML = reml,
    fixef = as.list(fe[, "Estimate"]),
    se = as.list(fe[, "Std. Error"]),
    t = as.list(fe[, "t value"]),
    group_var = vc$vcov[vc$grp != "Residual"],
    residual_var = vc$vcov[vc$grp == "Residual"],
    logLik = as.numeric(logLik(m)),
    AIC = AIC(m),
    BIC = BIC(m),
    nobs = nobs(m),
    ngroups = as.numeric(ngrps(m))
  )
}

icc_ref <- function(formula, data) {
  m <- lmer(formula, data = data, REML = TRUE)
  vc <- as.data.frame(VarCorr(m))
  tau <- vc$vcov[vc$grp != "Residual"]
  sigma2 <- vc$vcov[vc$grp == "Residual"]
  list(group_var = tau, residual_var = sigma2, icc = tau / (tau + sigma2),
       intercept = unname(fixef(m)[1]), logLik = as.numeric(logLik(m)))
}

robust_ref <- function(formula, data, cluster) {
  m <- lm(formula, data = data)
  v <- vcovCL(m, cluster = data[[cluster]])  # type "HC1", cadjust = TRUE: G/(G-1) * (N-1)/(N-K)
  ct <- coeftest(m, vcov. = v)
  list(
    coef = as.list(ct[, "Estimate"]),
    se = as.list(ct[, "Std. Error"]),
    t = as.list(ct[, "t value"]),
    p = as.list(ct[, "Pr(>|t|)"]),
    df_resid = m$df.residual,
    se_ols = as.list(summary(m)$coefficients[, "Std. Error"])
  )
}

ref <- list(
  generated_by = "make_reference.R",
  r_version = R.version.string,
  lme4_version = as.character(packageVersion("lme4")),
  sandwich_version = as.character(packageVersion("sandwich")),
  sleepstudy = list(
    icc = icc_ref(Reaction ~ 1 + (1 | Subject), sleep),
    reml = mixed_ref(Reaction ~ Days + (1 | Subject), sleep, TRUE),
    ml = mixed_ref(Reaction ~ Days + (1 | Subject), sleep, FALSE),
    robust = robust_ref(Reaction ~ Days, sleep, "Subject")
  ),
  clustered = list(
    icc = icc_ref(y ~ 1 + (1 | g), clustered),
    reml = mixed_ref(y ~ x1 + x2 + (1 | g), clustered, TRUE),
    ml = mixed_ref(y ~ x1 + x2 + (1 | g), clustered, FALSE),
    robust = robust_ref(y ~ x1 + x2, clustered, "g")
  )
)
write_json(ref, "reference.json", auto_unbox = TRUE, digits = NA, pretty = TRUE)
