//! Latent Dirichlet Allocation by variational Bayes, batch and online (Hoffman, Blei & Bach
//! 2010), with the update rules, defaults and perplexity bound of scikit-learn's
//! `LatentDirichletAllocation`, so that numbers compare with what researchers ran.
//!
//! Documents are E-stepped in parallel; their sufficient statistics are summed in document
//! order, so a fit is the same whatever the number of threads. Every random draw (topic-word
//! initialisation, per-document starting points) comes from [`Rng`] streams.

use super::special::{digamma, exp_dirichlet_expectation, gamma, ln_gamma};
use super::FactorError;
use crate::rng::Rng;
pub use crate::spec::LdaMethod;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// A bag of words: distinct word ids with their (possibly fractional) counts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Doc {
    pub ids: Vec<u32>,
    pub counts: Vec<f64>,
}

impl Doc {
    pub fn total(&self) -> f64 {
        self.counts.iter().sum()
    }
}

/// Documents over a vocabulary of `vocab` words.
#[derive(Debug, Clone, PartialEq)]
pub struct Corpus {
    pub vocab: usize,
    pub docs: Vec<Doc>,
}

/// Everything that shapes a fit. [`LdaParams::new`] gives scikit-learn's defaults of 2018
/// (`LatentDirichletAllocation`, `learning_method="batch"`), which the authors ran.
#[derive(Debug, Clone, PartialEq)]
pub struct LdaParams {
    pub topics: usize,
    pub method: LdaMethod,
    /// α (scikit-learn: 1/topics).
    pub doc_topic_prior: f64,
    /// η (scikit-learn: 1/topics).
    pub topic_word_prior: f64,
    pub max_iter: usize,
    pub batch_size: usize,
    pub learning_decay: f64,
    pub learning_offset: f64,
    pub mean_change_tol: f64,
    pub max_doc_update_iter: usize,
    /// Evaluate the perplexity every this many iterations and stop once it moves less than
    /// `perp_tol`; 0 = never during the fit (scikit-learn's −1). The perplexity after the
    /// fit is always computed.
    pub evaluate_every: usize,
    pub perp_tol: f64,
    pub seed: u64,
}

impl LdaParams {
    pub fn new(topics: usize, seed: u64) -> Self {
        LdaParams {
            topics,
            method: LdaMethod::Batch,
            doc_topic_prior: 1.0 / topics.max(1) as f64,
            topic_word_prior: 1.0 / topics.max(1) as f64,
            max_iter: 10,
            batch_size: 128,
            learning_decay: 0.7,
            learning_offset: 10.0,
            mean_change_tol: 1e-3,
            max_doc_update_iter: 100,
            evaluate_every: 0,
            perp_tol: 0.1,
            seed,
        }
    }
}

/// A fitted model: the variational topic-word parameters λ.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lda {
    pub topics: usize,
    pub vocab: usize,
    pub doc_topic_prior: f64,
    pub topic_word_prior: f64,
    /// λ, word-major (`vocab × topics`): a document's words are then contiguous rows.
    lambda: Vec<f64>,
    #[serde(skip)]
    exp_elog_beta: Vec<f64>,
    mean_change_tol: f64,
    max_doc_update_iter: usize,
}

/// How a fit went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LdaFit {
    pub iterations: usize,
    /// Perplexity of the training documents after the fit (scikit-learn's `bound_`).
    pub perplexity: f64,
    /// (iteration, perplexity) at each evaluation, when `evaluate_every` > 0.
    pub history: Vec<(usize, f64)>,
}

/// One document's E-step result.
struct DocState {
    /// γ, unnormalised.
    gamma: Vec<f64>,
    /// exp(E[ln θ]) at convergence and cnt/φ-norm per word (for the sufficient statistics).
    exp_elog_theta: Vec<f64>,
    ratio: Vec<f64>,
}

impl Lda {
    /// Fit on `corpus`. Documents without words are allowed and carry no information.
    pub fn fit(corpus: &Corpus, p: &LdaParams) -> Result<(Lda, LdaFit), FactorError> {
        if p.topics == 0 {
            return Err(FactorError::Invalid("LDA needs at least one topic".into()));
        }
        if corpus.vocab == 0 || corpus.docs.iter().all(|d| d.ids.is_empty()) {
            return Err(FactorError::Invalid(
                "LDA has no words to fit: every bag of words is empty".into(),
            ));
        }
        check_corpus(corpus)?;
        let t = p.topics;
        let mut init = Rng::derive(p.seed, "lda.components", 0);
        // scikit-learn's start: λ ~ Gamma(100, 1/100), drawn topic-major.
        let mut lambda = vec![0.0; corpus.vocab * t];
        for k in 0..t {
            for w in 0..corpus.vocab {
                lambda[w * t + k] = gamma(&mut init, 100.0, 0.01);
            }
        }
        let mut lda = Lda {
            topics: t,
            vocab: corpus.vocab,
            doc_topic_prior: p.doc_topic_prior,
            topic_word_prior: p.topic_word_prior,
            lambda,
            exp_elog_beta: Vec::new(),
            mean_change_tol: p.mean_change_tol,
            max_doc_update_iter: p.max_doc_update_iter,
        };
        lda.refresh();
        let n = corpus.docs.len();
        let mut batch_iter = 1usize;
        let mut step = 0u64;
        let mut history = Vec::new();
        let mut last: Option<f64> = None;
        let mut iterations = 0;
        for i in 0..p.max_iter {
            match p.method {
                LdaMethod::Batch => {
                    let ss = lda.sufficient_statistics(&corpus.docs, p.seed, step);
                    step += 1;
                    for (l, s) in lda.lambda.iter_mut().zip(&ss) {
                        *l = lda.topic_word_prior + s;
                    }
                }
                LdaMethod::Online => {
                    for chunk in corpus.docs.chunks(p.batch_size.max(1)) {
                        let ss = lda.sufficient_statistics(chunk, p.seed, step);
                        step += 1;
                        let weight =
                            (p.learning_offset + batch_iter as f64).powf(-p.learning_decay);
                        let ratio = n as f64 / chunk.len() as f64;
                        for (l, s) in lda.lambda.iter_mut().zip(&ss) {
                            *l = (1.0 - weight) * *l + weight * (lda.topic_word_prior + ratio * s);
                        }
                        batch_iter += 1;
                        lda.refresh();
                    }
                }
            }
            lda.refresh();
            iterations = i + 1;
            if p.evaluate_every > 0 && (i + 1) % p.evaluate_every == 0 {
                let perp = lda.perplexity(corpus);
                history.push((i + 1, perp));
                tracing::debug!(iteration = i + 1, perplexity = perp, "LDA");
                if last.is_some_and(|l| (l - perp).abs() < p.perp_tol) {
                    break;
                }
                last = Some(perp);
            }
        }
        let perplexity = lda.perplexity(corpus);
        Ok((
            lda,
            LdaFit {
                iterations,
                perplexity,
                history,
            },
        ))
    }

    /// Recompute exp(E[ln β]) from λ (per topic, over the vocabulary).
    fn refresh(&mut self) {
        let t = self.topics;
        let mut totals = vec![0.0; t];
        for row in self.lambda.chunks_exact(t) {
            for (s, l) in totals.iter_mut().zip(row) {
                *s += l;
            }
        }
        let psi_tot: Vec<f64> = totals.into_iter().map(digamma).collect();
        self.exp_elog_beta = self
            .lambda
            .chunks_exact(t)
            .flat_map(|row| {
                row.iter()
                    .zip(&psi_tot)
                    .map(|(l, pt)| (digamma(*l) - pt).exp())
                    .collect::<Vec<_>>()
            })
            .collect();
    }

    /// E-step one document from γ's starting point `gamma`.
    fn e_step_doc(&self, doc: &Doc, gamma: Vec<f64>) -> DocState {
        #[cfg(target_arch = "x86_64")]
        if crate::simd::avx2_fma() {
            // Safety: the features were detected on this processor.
            return unsafe { self.e_step_doc_avx2(doc, gamma) };
        }
        self.e_step_doc_portable(doc, gamma)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn e_step_doc_avx2(&self, doc: &Doc, gamma: Vec<f64>) -> DocState {
        self.e_step_doc_portable(doc, gamma)
    }

    #[inline(always)]
    fn e_step_doc_portable(&self, doc: &Doc, mut gamma: Vec<f64>) -> DocState {
        let t = self.topics;
        let mut exp_theta = vec![0.0; t];
        exp_dirichlet_expectation(&gamma, &mut exp_theta);
        // The document's rows of exp(E[ln β]), contiguous.
        let mut w = Vec::with_capacity(doc.ids.len() * t);
        for &id in &doc.ids {
            w.extend_from_slice(&self.exp_elog_beta[id as usize * t..(id as usize + 1) * t]);
        }
        let mut ratio = vec![0.0; doc.ids.len()];
        let mut acc = vec![0.0; t];
        for _ in 0..self.max_doc_update_iter {
            // Three loops rather than one: the per-word dot products are independent, so
            // they overlap in the pipeline instead of waiting on each division.
            for (row, r) in w.chunks_exact(t).zip(ratio.iter_mut()) {
                *r = dot(row, &exp_theta);
            }
            for (r, c) in ratio.iter_mut().zip(&doc.counts) {
                *r = c / (*r + f64::EPSILON);
            }
            acc.iter_mut().for_each(|a| *a = 0.0);
            for (row, r) in w.chunks_exact(t).zip(&ratio) {
                for (a, b) in acc.iter_mut().zip(row) {
                    *a += r * b;
                }
            }
            let mut change = 0.0;
            for k in 0..t {
                let g = exp_theta[k] * acc[k] + self.doc_topic_prior;
                change += (g - gamma[k]).abs();
                gamma[k] = g;
            }
            exp_dirichlet_expectation(&gamma, &mut exp_theta);
            if change / (t as f64) < self.mean_change_tol {
                break;
            }
        }
        // The statistics use φ from the final θ, as scikit-learn's do.
        for ((row, c), r) in w.chunks_exact(t).zip(&doc.counts).zip(ratio.iter_mut()) {
            *r = c / (dot(row, &exp_theta) + f64::EPSILON);
        }
        DocState {
            gamma,
            exp_elog_theta: exp_theta,
            ratio,
        }
    }

    /// E-step `docs` from random starts and return the sufficient statistics (word-major),
    /// already multiplied by exp(E[ln β]).
    fn sufficient_statistics(&self, docs: &[Doc], seed: u64, step: u64) -> Vec<f64> {
        let t = self.topics;
        let states: Vec<DocState> = docs
            .par_iter()
            .enumerate()
            .map(|(d, doc)| {
                let mut rng = Rng::derive(seed, "lda.e-step", (step << 32) | d as u64);
                let start = (0..t).map(|_| gamma(&mut rng, 100.0, 0.01)).collect();
                self.e_step_doc(doc, start)
            })
            .collect();
        let mut ss = vec![0.0; self.vocab * t];
        for (doc, st) in docs.iter().zip(&states) {
            for (&w, r) in doc.ids.iter().zip(&st.ratio) {
                let row = &mut ss[w as usize * t..(w as usize + 1) * t];
                for (s, e) in row.iter_mut().zip(&st.exp_elog_theta) {
                    *s += e * r;
                }
            }
        }
        for (s, b) in ss.iter_mut().zip(&self.exp_elog_beta) {
            *s *= b;
        }
        ss
    }

    /// Unnormalised γ of each document, from the deterministic start (all ones).
    pub fn unnormalized(&self, docs: &[Doc]) -> Vec<Vec<f64>> {
        docs.par_iter()
            .map(|doc| {
                if doc.ids.is_empty() {
                    // No words: the posterior is the prior.
                    vec![self.doc_topic_prior; self.topics]
                } else {
                    self.e_step_doc(doc, vec![1.0; self.topics]).gamma
                }
            })
            .collect()
    }

    /// Topic distribution of each document (each row sums to 1): the AGF of an artist,
    /// also for artists the model never saw.
    pub fn transform(&self, corpus: &Corpus) -> Result<Vec<Vec<f64>>, FactorError> {
        if corpus.vocab != self.vocab {
            return Err(FactorError::Invalid(format!(
                "documents have a vocabulary of {} words, the model {}",
                corpus.vocab, self.vocab
            )));
        }
        check_corpus(corpus)?;
        Ok(self
            .unnormalized(&corpus.docs)
            .into_iter()
            .map(|g| {
                let s: f64 = g.iter().sum();
                g.into_iter().map(|x| x / s).collect()
            })
            .collect())
    }

    /// exp(−bound / words): scikit-learn's `perplexity` (variational bound, γ from the
    /// deterministic start).
    pub fn perplexity(&self, corpus: &Corpus) -> f64 {
        let gammas = self.unnormalized(&corpus.docs);
        let words: f64 = corpus.docs.iter().map(Doc::total).sum();
        (-self.bound(&corpus.docs, &gammas) / words).exp()
    }

    fn bound(&self, docs: &[Doc], gammas: &[Vec<f64>]) -> f64 {
        let t = self.topics;
        let elog = |alpha: &[f64]| -> Vec<f64> {
            let tot = digamma(alpha.iter().sum());
            alpha.iter().map(|a| digamma(*a) - tot).collect()
        };
        // E[ln β], word-major.
        let mut topic_totals = vec![0.0; t];
        for row in self.lambda.chunks_exact(t) {
            for (s, l) in topic_totals.iter_mut().zip(row) {
                *s += l;
            }
        }
        let psi_tot: Vec<f64> = topic_totals.iter().map(|s| digamma(*s)).collect();
        let elog_beta: Vec<f64> = self
            .lambda
            .chunks_exact(t)
            .flat_map(|row| {
                row.iter()
                    .zip(&psi_tot)
                    .map(|(l, p)| digamma(*l) - p)
                    .collect::<Vec<_>>()
            })
            .collect();
        let per_doc: Vec<f64> = docs
            .par_iter()
            .zip(gammas)
            .map(|(doc, g)| {
                let elog_theta = elog(g);
                let exp_theta: Vec<f64> = elog_theta.iter().map(|e| e.exp()).collect();
                let mut score = 0.0;
                // E[ln p(words | θ, β)]: ln Σₖ exp(E[ln θₖ] + E[ln βₖw]), as a dot product of
                // the stored exponentials; log-sum-exp where that underflows (tiny priors).
                for (&w, c) in doc.ids.iter().zip(&doc.counts) {
                    let fast = dot(
                        &self.exp_elog_beta[w as usize * t..(w as usize + 1) * t],
                        &exp_theta,
                    );
                    if fast > 1e-250 && fast.is_finite() {
                        score += c * fast.ln();
                        continue;
                    }
                    let row = &elog_beta[w as usize * t..(w as usize + 1) * t];
                    let m = row
                        .iter()
                        .zip(&elog_theta)
                        .map(|(b, e)| b + e)
                        .fold(f64::NEG_INFINITY, f64::max);
                    let s: f64 = row
                        .iter()
                        .zip(&elog_theta)
                        .map(|(b, e)| (b + e - m).exp())
                        .sum();
                    score += c * (m + s.ln());
                }
                // E[ln p(θ | α) − ln q(θ | γ)].
                let a = self.doc_topic_prior;
                for (gk, ek) in g.iter().zip(&elog_theta) {
                    score += (a - gk) * ek + ln_gamma(*gk) - ln_gamma(a);
                }
                score + ln_gamma(a * t as f64) - ln_gamma(g.iter().sum())
            })
            .collect();
        let mut score: f64 = per_doc.iter().sum();
        // E[ln p(β | η) − ln q(β | λ)].
        let eta = self.topic_word_prior;
        for (l, e) in self.lambda.iter().zip(&elog_beta) {
            score += (eta - l) * e + ln_gamma(*l) - ln_gamma(eta);
        }
        for s in &topic_totals {
            score += ln_gamma(eta * self.vocab as f64) - ln_gamma(*s);
        }
        score
    }

    /// Each topic's word distribution (`topics × vocab`, rows sum to 1).
    pub fn topic_words(&self) -> Vec<Vec<f64>> {
        let t = self.topics;
        (0..t)
            .map(|k| {
                let col: Vec<f64> = self.lambda.chunks_exact(t).map(|r| r[k]).collect();
                let s: f64 = col.iter().sum();
                col.into_iter().map(|x| x / s).collect()
            })
            .collect()
    }

    /// Rebuild the derived state after deserialisation.
    pub fn restore(mut self) -> Self {
        self.refresh();
        self
    }
}

/// Dot product with eight independent sums, so that it vectorises.
#[inline(always)]
fn dot(a: &[f64], b: &[f64]) -> f64 {
    let mut s = [0f64; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f64 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for k in 0..8 {
            s[k] += x[k] * y[k];
        }
    }
    s.iter().sum::<f64>() + tail
}

fn check_corpus(corpus: &Corpus) -> Result<(), FactorError> {
    for (d, doc) in corpus.docs.iter().enumerate() {
        if let Some(w) = doc.ids.iter().find(|&&w| w as usize >= corpus.vocab) {
            return Err(FactorError::Invalid(format!(
                "document {d} holds word {w}, outside the vocabulary of {}",
                corpus.vocab
            )));
        }
        if let Some(c) = doc.counts.iter().find(|c| !(c.is_finite() && **c >= 0.0)) {
            return Err(FactorError::Invalid(format!(
                "document {d} holds the count {c}; counts must be finite and ≥ 0"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Documents drawn from `k` planted topics over disjoint word blocks.
    fn planted(k: usize, docs_per_topic: usize, seed: u64) -> (Corpus, Vec<usize>) {
        let block = 10;
        let mut rng = Rng::new(seed);
        let mut docs = Vec::new();
        let mut truth = Vec::new();
        for topic in 0..k {
            for _ in 0..docs_per_topic {
                let mut counts = vec![0.0; k * block];
                for _ in 0..60 {
                    // 90% of words from the doc's topic, the rest anywhere.
                    let w = if rng.bernoulli(0.9) {
                        topic * block + rng.index(block)
                    } else {
                        rng.index(k * block)
                    };
                    counts[w] += 1.0;
                }
                let (ids, counts): (Vec<u32>, Vec<f64>) = counts
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| **c > 0.0)
                    .map(|(i, c)| (i as u32, *c))
                    .unzip();
                docs.push(Doc { ids, counts });
                truth.push(topic);
            }
        }
        (
            Corpus {
                vocab: k * block,
                docs,
            },
            truth,
        )
    }

    fn purity(theta: &[Vec<f64>], truth: &[usize], k: usize) -> f64 {
        let argmax = |v: &Vec<f64>| {
            v.iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .map(|(i, _)| i)
                .unwrap()
        };
        let mut table = vec![vec![0usize; k]; theta[0].len()];
        for (t, &g) in theta.iter().zip(truth) {
            table[argmax(t)][g] += 1;
        }
        table
            .iter()
            .map(|r| *r.iter().max().unwrap())
            .sum::<usize>() as f64
            / truth.len() as f64
    }

    #[test]
    fn batch_and_online_recover_planted_topics() {
        let (corpus, truth) = planted(4, 25, 1);
        for method in [LdaMethod::Batch, LdaMethod::Online] {
            let mut p = LdaParams::new(4, 9);
            p.method = method;
            p.batch_size = 16;
            p.max_iter = 30;
            let (lda, fit) = Lda::fit(&corpus, &p).unwrap();
            let theta = lda.transform(&corpus).unwrap();
            for row in &theta {
                assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-9);
            }
            let pur = purity(&theta, &truth, 4);
            assert!(pur > 0.95, "{method:?}: purity {pur}");
            // The generating distribution's perplexity is e^2.65 ≈ 14.2 (90% over 10 words,
            // 10% over all 40); the bound sits a little above it. Uniform would be 40.
            assert!(
                fit.perplexity > 14.0 && fit.perplexity < 18.0,
                "{method:?}: perplexity {}",
                fit.perplexity
            );
        }
    }

    #[test]
    fn fits_are_reproducible_and_seed_dependent() {
        let (corpus, _) = planted(3, 10, 2);
        let p = LdaParams::new(3, 5);
        let a = Lda::fit(&corpus, &p).unwrap().0;
        let b = Lda::fit(&corpus, &p).unwrap().0;
        assert_eq!(a, b);
        let c = Lda::fit(&corpus, &LdaParams::new(3, 6)).unwrap().0;
        assert_ne!(a, c);
    }

    #[test]
    fn unseen_documents_and_bad_input() {
        let (corpus, truth) = planted(3, 20, 3);
        let (lda, _) = Lda::fit(&corpus, &LdaParams::new(3, 1)).unwrap();
        // A new document made only of topic 2's words lands on the topic its training
        // documents took.
        let theta = lda.transform(&corpus).unwrap();
        let arg = |v: &[f64]| (0..v.len()).max_by(|&a, &b| v[a].total_cmp(&v[b])).unwrap();
        let topic_of_2 = arg(&theta[truth.iter().position(|&g| g == 2).unwrap()]);
        let new = Corpus {
            vocab: 30,
            docs: vec![Doc {
                ids: vec![20, 23, 27],
                counts: vec![3.0, 2.0, 4.0],
            }],
        };
        assert_eq!(arg(&lda.transform(&new).unwrap()[0]), topic_of_2);
        let bad = Corpus {
            vocab: 30,
            docs: vec![Doc {
                ids: vec![30],
                counts: vec![1.0],
            }],
        };
        assert!(lda
            .transform(&bad)
            .unwrap_err()
            .to_string()
            .contains("word 30"));
        let empty = Corpus {
            vocab: 5,
            docs: vec![Doc::default()],
        };
        assert!(Lda::fit(&empty, &LdaParams::new(2, 0)).is_err());
    }
}
