/* CTC greedy decoding and CTC prefix beam search in C, for the Python-vs-C benchmark.
 *
 * The same algorithms as ocrlab/models/ctc.py (greedy_decode, and _prefix_search without an
 * LM) and as decoders.py's Python and NumPy variants, with the same tie rules, so that every
 * variant returns the same texts:
 *   - argmax ties go to the lowest class id;
 *   - a frame's candidate characters are its top_k non-blank classes by log-probability
 *     (ties: lower id first), kept if >= min_lp (the best one always);
 *   - beams are ranked by total log-probability, ties broken by the order in which the
 *     Python dict would have first seen the prefix (its "insertion position");
 *   - log(exp(a) + exp(b)) is computed as max + log1p(exp(-|a - b|)) in double, as Python's
 *     math does, so equal inputs give bit-equal scores.
 *
 * Layout: log_probs (B, T, C) float32, C-contiguous; lengths (B,) int64; blank = class 0.
 * Build: cc -O3 -shared -fPIC -ffp-contract=off ctc_decode.c -o libctc_decode.so -lm
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static inline int clamp_len(int64_t len, int T) {
    return len < 0 ? 0 : (len > T ? T : (int)len);
}

/* Greedy (best path). Per line b, characters k < n_out[b] are written at [b * T + k]:
 * ids (class id), first/last (frame span of the run), prob (max probability over the run);
 * score[b] = sum over real frames of the best log-probability. */
void ctc_greedy(const float *lp, const int64_t *lengths, int B, int T, int C, int32_t *ids,
                int32_t *first, int32_t *last, double *prob, int32_t *n_out, double *score) {
    for (int b = 0; b < B; b++) {
        const int L = clamp_len(lengths[b], T);
        const float *line = lp + (size_t)b * T * C;
        int32_t *o_ids = ids + (size_t)b * T, *o_first = first + (size_t)b * T;
        int32_t *o_last = last + (size_t)b * T;
        double *o_prob = prob + (size_t)b * T;
        int n = 0, prev = 0;
        double s = 0.0;
        for (int t = 0; t < L; t++) {
            const float *row = line + (size_t)t * C;
            int best = 0;
            float bv = row[0];
            for (int c = 1; c < C; c++) {
                if (row[c] > bv) {
                    bv = row[c];
                    best = c;
                }
            }
            s += (double)bv;
            if (best != 0) {
                const double p = exp((double)bv);
                if (best != prev) { /* a new character starts */
                    o_ids[n] = best;
                    o_first[n] = o_last[n] = t;
                    o_prob[n] = p;
                    n++;
                } else { /* the same character continues its run */
                    o_last[n - 1] = t;
                    if (p > o_prob[n - 1]) o_prob[n - 1] = p;
                }
            }
            prev = best;
        }
        n_out[b] = n;
        score[b] = s;
    }
}

/* ---- prefix beam search ---------------------------------------------------------------- */

static inline double logaddexp(double a, double b) {
    if (a == -INFINITY) return b;
    if (b == -INFINITY) return a;
    const double m = a > b ? a : b;
    return m + log1p(exp(-fabs(a - b)));
}

typedef struct { /* prefixes form a tree: each node is its parent + one character */
    int32_t *parent, *ch;
    int size, cap;
} Nodes;

static int node_new(Nodes *nodes, int parent, int ch) {
    if (nodes->size == nodes->cap) {
        nodes->cap = nodes->cap ? 2 * nodes->cap : 1024;
        nodes->parent = realloc(nodes->parent, sizeof(int32_t) * nodes->cap);
        nodes->ch = realloc(nodes->ch, sizeof(int32_t) * nodes->cap);
    }
    nodes->parent[nodes->size] = parent;
    nodes->ch[nodes->size] = ch;
    return nodes->size++;
}

typedef struct {
    double blank, chr, total;
    int pos;       /* insertion position: the tie-break */
    int node;      /* existing prefix (a "stay" entry), or -1 for a new extension */
    int from, c;   /* extension: parent beam index and character */
    int alive;
} Entry;

/* a ranks before b: higher total, then earlier insertion position */
static inline int before(const Entry *a, const Entry *b) {
    return a->total > b->total || (a->total == b->total && a->pos < b->pos);
}

/* One line: lp (T, C). Writes the best prefix's ids to out_ids (capacity T) and returns their
 * count; *out_score = its total log-probability. */
static int prefix_search(const float *lp, int T, int C, int beam_width, int top_k,
                         double min_lp, int32_t *out_ids, double *out_score) {
    if (T == 0) {
        *out_score = 0.0;
        return 0;
    }
    const int k_max = top_k < C - 1 ? top_k : C - 1;
    Nodes nodes = {0};
    node_new(&nodes, -1, 0); /* node 0: the empty prefix */
    int K = 1;
    int *b_node = malloc(sizeof(int) * beam_width);
    double *b_blank = malloc(sizeof(double) * beam_width);
    double *b_chr = malloc(sizeof(double) * beam_width);
    int *n_node = malloc(sizeof(int) * beam_width);
    double *n_blank = malloc(sizeof(double) * beam_width);
    double *n_chr = malloc(sizeof(double) * beam_width);
    Entry *entries = malloc(sizeof(Entry) * (size_t)beam_width * (1 + k_max));
    int *top = malloc(sizeof(int) * beam_width);
    int *cand = malloc(sizeof(int) * k_max);
    double *cand_v = malloc(sizeof(double) * k_max);
    b_node[0] = 0;
    b_blank[0] = 0.0;
    b_chr[0] = -INFINITY;

    for (int t = 0; t < T; t++) {
        const float *row = lp + (size_t)t * C;
        /* candidates: top k non-blank classes, descending, ties by lower id */
        int nk = 0;
        for (int c = 1; c < C; c++) {
            const double v = row[c];
            if (nk == k_max && !(v > cand_v[nk - 1])) continue;
            int at = nk < k_max ? nk : k_max - 1;
            while (at > 0 && v > cand_v[at - 1]) {
                cand_v[at] = cand_v[at - 1];
                cand[at] = cand[at - 1];
                at--;
            }
            cand_v[at] = v;
            cand[at] = c;
            if (nk < k_max) nk++;
        }
        int keep = 1;
        while (keep < nk && cand_v[keep] >= min_lp) keep++;
        nk = keep;

        /* entries in the order a Python dict would first see them */
        const int stride = 1 + nk;
        int n_entries = K * stride;
        for (int i = 0; i < K; i++) {
            const int node = b_node[i];
            const double total = logaddexp(b_blank[i], b_chr[i]);
            Entry *s = &entries[i * stride];
            s->node = node;
            s->from = i;
            s->c = 0;
            s->pos = i * stride;
            s->blank = total + row[0];
            s->chr = node ? b_chr[i] + row[nodes.ch[node]] : -INFINITY;
            s->alive = 1;
            for (int m = 0; m < nk; m++) {
                Entry *e = &entries[i * stride + 1 + m];
                const int c = cand[m];
                e->node = -1;
                e->from = i;
                e->c = c;
                e->pos = i * stride + 1 + m;
                e->blank = -INFINITY;
                /* a repeated character is a new one only after a blank */
                e->chr = (node && c == nodes.ch[node]) ? b_blank[i] + row[c] : total + row[c];
                e->alive = 1;
            }
        }
        /* an extension that spells an existing beam's prefix merges into that beam's entry */
        for (int j = 0; j < K; j++) {
            const int node = b_node[j];
            if (!node) continue;
            for (int i = 0; i < K; i++) {
                if (b_node[i] != nodes.parent[node]) continue;
                for (int m = 0; m < nk; m++) {
                    if (cand[m] != nodes.ch[node]) continue;
                    Entry *e = &entries[i * stride + 1 + m], *s = &entries[j * stride];
                    s->chr = logaddexp(s->chr, e->chr);
                    if (e->pos < s->pos) s->pos = e->pos;
                    e->alive = 0;
                }
            }
        }
        /* keep the best beam_width entries (insertion sort into top[]) */
        int nt = 0;
        for (int q = 0; q < n_entries; q++) {
            Entry *e = &entries[q];
            if (!e->alive) continue;
            e->total = logaddexp(e->blank, e->chr);
            if (e->total == -INFINITY) continue;
            if (nt == beam_width && !before(e, &entries[top[nt - 1]])) continue;
            int at = nt < beam_width ? nt : beam_width - 1;
            while (at > 0 && before(e, &entries[top[at - 1]])) {
                top[at] = top[at - 1];
                at--;
            }
            top[at] = q;
            if (nt < beam_width) nt++;
        }
        for (int r = 0; r < nt; r++) {
            const Entry *e = &entries[top[r]];
            n_node[r] = e->node >= 0 ? e->node : node_new(&nodes, b_node[e->from], e->c);
            n_blank[r] = e->blank;
            n_chr[r] = e->chr;
        }
        K = nt;
        memcpy(b_node, n_node, sizeof(int) * K);
        memcpy(b_blank, n_blank, sizeof(double) * K);
        memcpy(b_chr, n_chr, sizeof(double) * K);
    }
    /* beams are ranked: the first is the best (the first maximum, as Python's max) */
    int n = 0;
    *out_score = logaddexp(b_blank[0], b_chr[0]);
    for (int node = b_node[0]; node; node = nodes.parent[node]) out_ids[n++] = nodes.ch[node];
    for (int a = 0, z = n - 1; a < z; a++, z--) {
        const int32_t tmp = out_ids[a];
        out_ids[a] = out_ids[z];
        out_ids[z] = tmp;
    }
    free(nodes.parent), free(nodes.ch), free(b_node), free(b_blank), free(b_chr);
    free(n_node), free(n_blank), free(n_chr), free(entries), free(top), free(cand), free(cand_v);
    return n;
}

/* Batch: line b's ids at out_ids[b * T ...], n_out[b] of them, score[b]. */
void ctc_prefix_beam(const float *lp, const int64_t *lengths, int B, int T, int C, int beam_width,
                     int top_k, double min_lp, int32_t *out_ids, int32_t *n_out, double *score) {
    for (int b = 0; b < B; b++) {
        const int L = clamp_len(lengths[b], T);
        n_out[b] = prefix_search(lp + (size_t)b * T * C, L, C, beam_width, top_k, min_lp,
                                 out_ids + (size_t)b * T, &score[b]);
    }
}
