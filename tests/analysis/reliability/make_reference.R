# Reference values for vakstem.analysis.reliability, generated once with R and committed.
#
#   cd tests/analysis/reliability && Rscript make_reference.R
#
# Writes bfi_scales.csv (the data the tests read) and reference.json (psych's numbers).
# R 4, psych 2.2.9, GPArotation (needed by psych::omega even for one factor).
suppressPackageStartupMessages({
  library(psych)
  library(jsonlite)
})

bfi <- psych::bfi
# Agreeableness A1-A5 as shipped (a few missing values of its own); A1 is reverse-keyed.
agree <- bfi[, c("A1", "A2", "A3", "A4", "A5")]
# Conscientiousness C1-C5 with 15% of the values deleted at random on top of the natural
# ones, so that the pairwise handling (cov use = "pairwise") really matters. C4, C5 reversed.
consc <- bfi[, c("C1", "C2", "C3", "C4", "C5")]
set.seed(20261126)
holes <- matrix(runif(nrow(consc) * ncol(consc)) < 0.15, nrow(consc))
consc[holes] <- NA
# psych counts every row in n; keep only rows with at least one answered item so that
# our convention (rows without any answer are not respondents of the scale) coincides.
consc <- consc[rowSums(!is.na(consc)) > 0, ]
agree <- agree[rowSums(!is.na(agree)) > 0, ]

data <- merge(
  cbind(row = rownames(agree), agree),
  cbind(row = rownames(consc), consc),
  by = "row", all = TRUE, sort = FALSE
)
data <- data[order(as.integer(data$row)), ]
write.csv(data, "bfi_scales.csv", row.names = FALSE, na = "")

alpha_ref <- function(x, keys) {
  x <- x[rowSums(!is.na(x)) > 0, , drop = FALSE]
  a <- psych::alpha(x, keys = keys, warnings = FALSE)
  list(
    n_rows = nrow(x),
    total = as.list(a$total),
    alpha.drop = lapply(split(a$alpha.drop, seq_len(nrow(a$alpha.drop))), as.list),
    item.stats = lapply(split(a$item.stats, seq_len(nrow(a$item.stats))), as.list),
    items = colnames(x)
  )
}

omega_ref <- function(x, keys) {
  x <- x[rowSums(!is.na(x)) > 0, , drop = FALSE]
  o <- suppressWarnings(suppressMessages(
    psych::omega(x, nfactors = 1, fm = "minres", key = keys, plot = FALSE)
  ))
  list(
    omega.tot = o$omega.tot,
    omega_h = o$omega_h,
    alpha = o$alpha,
    G6 = o$G6,
    loadings = as.vector(o$schmid$sl[, 1]),
    h2 = as.vector(o$schmid$sl[, "h2"]),
    u2 = as.vector(o$schmid$sl[, "u2"])
  )
}

reread <- read.csv("bfi_scales.csv")
a_items <- reread[, c("A1", "A2", "A3", "A4", "A5")]
a_items <- a_items[rowSums(!is.na(a_items)) > 0, ]
c_items <- reread[, c("C1", "C2", "C3", "C4", "C5")]
c_items <- c_items[rowSums(!is.na(c_items)) > 0, ]

ref <- list(
  generated_by = "make_reference.R",
  r_version = R.version.string,
  psych_version = as.character(packageVersion("psych")),
  agreeableness = list(
    reverse = "A1",
    alpha = alpha_ref(a_items, c(-1, 1, 1, 1, 1)),
    omega = omega_ref(a_items, c(-1, 1, 1, 1, 1))
  ),
  conscientiousness = list(
    reverse = c("C4", "C5"),
    alpha = alpha_ref(c_items, c(1, 1, 1, -1, -1)),
    omega = omega_ref(c_items, c(1, 1, 1, -1, -1))
  ),
  agreeableness_3 = list(
    reverse = character(0),
    alpha = alpha_ref(a_items[, c("A2", "A3", "A5")], c(1, 1, 1)),
    omega = omega_ref(a_items[, c("A2", "A3", "A5")], c(1, 1, 1))
  ),
  # Two items: alpha only (a one-factor omega is not identified from two indicators).
  agreeableness_2 = list(
    reverse = character(0),
    alpha = alpha_ref(a_items[, c("A2", "A3")], c(1, 1))
  )
)
write_json(ref, "reference.json", auto_unbox = TRUE, digits = NA, pretty = TRUE)
