/*  =========================================================================
    ih_merkle - the hub log's Merkle tree (RFC 6962 / RFC 9162, SHA-256)

    Data flow: the hub's store calls ih_merkle_leaf_hash and
    ih_merkle_append for each record it commits (same LMDB transaction);
    `incuhub prove` calls ih_merkle_root and the proof generators against
    the stored subtree hashes; `incuhub verify-proof` (and any auditor in
    another language) calls the two verifiers, which need nothing but the
    proof, the leaf and the signed roots.

    Why perfect subtrees. RFC 6962 defines MTH, PATH and PROOF recursively
    by splitting a range of n leaves at k, the largest power of two below
    n. Every range that recursion ever visits starts at a multiple of its
    own largest power of two, so a range [start, start + n) is the perfect
    subtrees given by the binary digits of n, laid out left to right from
    start, biggest first, and its MTH is those hashes folded from the
    right: MTH = H(p1, H(p2, ... H(p_{j-1}, p_j))). A perfect subtree is
    final once complete, so the store only ever adds hashes (2n - popcount
    (n) of them for n leaves), never rewrites one, and any old root or
    proof is still computable. Walking PATH/PROOF top down, at most one
    visited range is not perfect (the right part at the first step that
    goes left; after that every range lies inside a perfect one), so a
    proof costs O(log n) reads.

    The verifiers are RFC 9162 sections 2.1.3.2 and 2.1.4.2, step for
    step; they run in at most 64 rounds whatever the input, since sn
    halves each round and must stay non-zero.
    =========================================================================*/
#include <stdlib.h>
#include <string.h>
#include <czmq.h>
#include <sodium.h>
#include "ih_merkle.h"
#include "ih_check.h"
#include "ih_record.h"

#define S_HASH IH_MERKLE_HASH_SIZE

void
ih_merkle_leaf_hash (const uint8_t *record, size_t size, uint8_t *out)
{
    assert (out);
    assert (record || size == 0);
    static const uint8_t prefix = 0x00;
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init (&st);
    crypto_hash_sha256_update (&st, &prefix, 1);
    if (size)
        crypto_hash_sha256_update (&st, record, size);
    crypto_hash_sha256_final (&st, out);
}

void
ih_merkle_node_hash (const uint8_t *left, const uint8_t *right, uint8_t *out)
{
    assert (left);
    assert (right);
    assert (out);
    uint8_t buf[1 + 2 * S_HASH];
    buf[0] = 0x01;
    memcpy (buf + 1, left, S_HASH);
    memcpy (buf + 1 + S_HASH, right, S_HASH);
    crypto_hash_sha256 (out, buf, sizeof (buf)); //  out may alias an input
}

//  Largest power of two strictly below n (n >= 2): RFC 6962's k.
static uint64_t
s_split (uint64_t n)
{
    assert (n >= 2);
    return (uint64_t) 1 << (63 - __builtin_clzll (n - 1));
}

//  MTH of leaves [start, start + n), n >= 1, start a multiple of n's
//  highest power of two (true of every range the RFC recursion visits).
static ih_err_t
s_range_hash (uint64_t start, uint64_t n, ih_merkle_get_fn *get, void *arg,
              uint8_t *out)
{
    assert (n >= 1);
    uint8_t parts[64][S_HASH];
    size_t count = 0;
    uint64_t off = start;
    for (int bit = 63; bit >= 0; bit--) {
        uint64_t width = (uint64_t) 1 << bit;
        if (!(n & width))
            continue;
        assert (off % width == 0);
        if (get ((uint64_t) bit, off >> bit, parts[count], arg))
            return IH_E_STORE;
        count++;
        off += width;
    }
    memcpy (out, parts[count - 1], S_HASH);
    for (size_t i = count - 1; i > 0; i--)
        ih_merkle_node_hash (parts[i - 1], out, out);
    return IH_OK;
}

//  Hands the hashes collected top down (hashes[0..count)) to the caller
//  bottom up, as RFC 6962 lists them.
static void
s_emit (uint8_t (*hashes)[S_HASH], size_t count, uint8_t **out_p, size_t *len_p)
{
    *out_p = NULL;
    *len_p = count;
    if (count == 0)
        return;
    uint8_t *out = (uint8_t *) malloc (count * S_HASH);
    assert (out);
    for (size_t i = 0; i < count; i++)
        memcpy (out + i * S_HASH, hashes[count - 1 - i], S_HASH);
    *out_p = out;
}

ih_err_t
ih_merkle_append (uint64_t index, const uint8_t *leaf_hash,
                  ih_merkle_get_fn *get, void *get_arg, ih_merkle_put_fn *put,
                  void *put_arg)
{
    assert (leaf_hash);
    assert (get);
    assert (put);
    if (put (0, index, leaf_hash, put_arg))
        return IH_E_STORE;
    uint8_t hash[S_HASH], sibling[S_HASH];
    memcpy (hash, leaf_hash, S_HASH);
    uint64_t level = 0;
    //  A right child completes its parent; a left child completes nothing
    while (index & 1) {
        if (get (level, index - 1, sibling, get_arg))
            return IH_E_STORE;
        ih_merkle_node_hash (sibling, hash, hash);
        level++;
        index >>= 1;
        if (put (level, index, hash, put_arg))
            return IH_E_STORE;
    }
    return IH_OK;
}

ih_err_t
ih_merkle_root (uint64_t size, ih_merkle_get_fn *get, void *arg, uint8_t *out)
{
    assert (get);
    assert (out);
    if (size == 0) {
        crypto_hash_sha256 (out, NULL, 0);
        return IH_OK;
    }
    return s_range_hash (0, size, get, arg, out);
}

ih_err_t
ih_merkle_inclusion_proof (uint64_t index, uint64_t size, ih_merkle_get_fn *get,
                           void *arg, uint8_t **path_p, size_t *len_p)
{
    assert (get);
    assert (path_p);
    assert (len_p);
    *path_p = NULL;
    *len_p = 0;
    if (index >= size)
        return IH_E_BADARG;
    //  PATH(m, D[start:start+n]) top down: each step records the sibling
    //  range of the half holding m, then descends into that half
    uint8_t hashes[IH_MERKLE_PATH_MAX][S_HASH];
    size_t count = 0;
    uint64_t m = index, start = 0, n = size;
    while (n > 1) {
        uint64_t k = s_split (n);
        ih_err_t rc;
        if (m < k) {
            rc = s_range_hash (start + k, n - k, get, arg, hashes[count]);
            n = k;
        } else {
            rc = s_range_hash (start, k, get, arg, hashes[count]);
            m -= k;
            start += k;
            n -= k;
        }
        if (rc)
            return rc;
        count++;
    }
    s_emit (hashes, count, path_p, len_p);
    return IH_OK;
}

ih_err_t
ih_merkle_consistency_proof (uint64_t old_size, uint64_t new_size,
                             ih_merkle_get_fn *get, void *arg,
                             uint8_t **proof_p, size_t *len_p)
{
    assert (get);
    assert (proof_p);
    assert (len_p);
    *proof_p = NULL;
    *len_p = 0;
    if (old_size > new_size)
        return IH_E_BADARG;
    if (old_size == 0 || old_size == new_size)
        return IH_OK;
    //  SUBPROOF(m, D[start:start+n], b) top down; b turns false once the
    //  old tree's root is no longer a node the verifier already knows
    uint8_t hashes[IH_MERKLE_PROOF_MAX][S_HASH];
    size_t count = 0;
    uint64_t m = old_size, start = 0, n = new_size;
    bool b = true;
    while (m != n) {
        uint64_t k = s_split (n);
        ih_err_t rc;
        if (m <= k) {
            rc = s_range_hash (start + k, n - k, get, arg, hashes[count]);
            n = k;
        } else {
            rc = s_range_hash (start, k, get, arg, hashes[count]);
            m -= k;
            start += k;
            n -= k;
            b = false;
        }
        if (rc)
            return rc;
        count++;
    }
    if (!b) {
        ih_err_t rc = s_range_hash (start, n, get, arg, hashes[count]);
        if (rc)
            return rc;
        count++;
    }
    s_emit (hashes, count, proof_p, len_p);
    return IH_OK;
}

ih_err_t
ih_merkle_verify_inclusion (uint64_t index, uint64_t size,
                            const uint8_t *leaf_hash, const uint8_t *path,
                            size_t path_len, const uint8_t *root)
{
    assert (leaf_hash);
    assert (root);
    assert (path || path_len == 0);
    if (index >= size || path_len > IH_MERKLE_PATH_MAX)
        return IH_E_PROOF;
    uint64_t fn = index, sn = size - 1;
    uint8_t r[S_HASH];
    memcpy (r, leaf_hash, S_HASH);
    for (size_t i = 0; i < path_len; i++) {
        const uint8_t *p = path + i * S_HASH;
        if (sn == 0)
            return IH_E_PROOF; //  path too long
        if ((fn & 1) || fn == sn) {
            ih_merkle_node_hash (p, r, r);
            if (!(fn & 1))
                while (fn != 0 && !(fn & 1)) {
                    fn >>= 1;
                    sn >>= 1;
                }
        } else
            ih_merkle_node_hash (r, p, r);
        fn >>= 1;
        sn >>= 1;
    }
    if (sn != 0 || memcmp (r, root, S_HASH) != 0)
        return IH_E_PROOF;
    return IH_OK;
}

ih_err_t
ih_merkle_verify_consistency (uint64_t old_size, uint64_t new_size,
                              const uint8_t *old_root, const uint8_t *new_root,
                              const uint8_t *proof, size_t proof_len)
{
    assert (old_root);
    assert (new_root);
    assert (proof || proof_len == 0);
    if (old_size > new_size || proof_len > IH_MERKLE_PROOF_MAX)
        return IH_E_PROOF;
    if (old_size == 0) {
        //  Every tree extends the empty one; its root is still fixed
        uint8_t empty[S_HASH];
        crypto_hash_sha256 (empty, NULL, 0);
        return proof_len == 0 && memcmp (old_root, empty, S_HASH) == 0
                   ? IH_OK
                   : IH_E_PROOF;
    }
    if (old_size == new_size)
        return proof_len == 0 && memcmp (old_root, new_root, S_HASH) == 0
                   ? IH_OK
                   : IH_E_PROOF;
    if (proof_len == 0)
        return IH_E_PROOF;

    //  If old_size is a power of two, the old root is itself a node of the
    //  new tree and RFC 9162 prepends it to the proof: element i of the
    //  extended proof is s_elem below.
    bool prepend = (old_size & (old_size - 1)) == 0;
    size_t total = proof_len + (prepend ? 1 : 0);
#define s_elem(i)                                                              \
    (prepend ? ((i) == 0 ? old_root : proof + ((i) -1) * S_HASH)               \
             : proof + (i) *S_HASH)
    uint64_t fn = old_size - 1, sn = new_size - 1;
    while (fn & 1) {
        fn >>= 1;
        sn >>= 1;
    }
    uint8_t fr[S_HASH], sr[S_HASH];
    memcpy (fr, s_elem (0), S_HASH);
    memcpy (sr, s_elem (0), S_HASH);
    for (size_t i = 1; i < total; i++) {
        const uint8_t *c = s_elem (i);
        if (sn == 0)
            return IH_E_PROOF; //  proof too long
        if ((fn & 1) || fn == sn) {
            ih_merkle_node_hash (c, fr, fr);
            ih_merkle_node_hash (c, sr, sr);
            if (!(fn & 1))
                while (fn != 0 && !(fn & 1)) {
                    fn >>= 1;
                    sn >>= 1;
                }
        } else
            ih_merkle_node_hash (sr, c, sr);
        fn >>= 1;
        sn >>= 1;
    }
#undef s_elem
    if (sn != 0 || memcmp (fr, old_root, S_HASH) != 0 ||
        memcmp (sr, new_root, S_HASH) != 0)
        return IH_E_PROOF;
    return IH_OK;
}

//  --------------------------------------------------------------------------
//  Selftest

#define S_N 70     //  exhaustive up to this tree size
#define S_LEVELS 8 //  2^7 = 128 > S_N
#define S_MAXP 16  //  longest path or proof for these sizes, with room

//  An in-memory store of complete subtrees. get refuses anything not
//  complete within limit, so the tests prove that a root or proof for an
//  old size reads only what existed at that size; fail_after makes the
//  n-th call fail.
typedef struct {
    uint8_t hash[S_LEVELS][S_N + 2][S_HASH];
    bool have[S_LEVELS][S_N + 2];
    uint64_t limit;
    int calls;
    int fail_after; //  -1: never
} s_store_t;

static int
s_get (uint64_t level, uint64_t index, uint8_t *out, void *arg)
{
    s_store_t *st = (s_store_t *) arg;
    if (st->fail_after >= 0 && st->calls++ >= st->fail_after)
        return -1;
    if (level >= S_LEVELS || index > S_N + 1 || !st->have[level][index] ||
        ((index + 1) << level) > st->limit)
        return -1;
    memcpy (out, st->hash[level][index], S_HASH);
    return 0;
}

static int
s_put (uint64_t level, uint64_t index, const uint8_t *hash, void *arg)
{
    s_store_t *st = (s_store_t *) arg;
    if (st->fail_after >= 0 && st->calls++ >= st->fail_after)
        return -1;
    ih_check (level < S_LEVELS && index <= S_N + 1);
    ih_check (!st->have[level][index]); //  never rewritten
    memcpy (st->hash[level][index], hash, S_HASH);
    st->have[level][index] = true;
    return 0;
}

//  The RFC 6962 definitions, literally, over an array of leaf hashes
static void
s_mth (uint8_t (*leaves)[S_HASH], uint64_t n, uint8_t *out)
{
    if (n == 0)
        crypto_hash_sha256 (out, NULL, 0);
    else if (n == 1)
        memcpy (out, leaves[0], S_HASH);
    else {
        uint64_t k = 1;
        while (k * 2 < n)
            k *= 2;
        uint8_t l[S_HASH], r[S_HASH];
        s_mth (leaves, k, l);
        s_mth (leaves + k, n - k, r);
        ih_merkle_node_hash (l, r, out);
    }
}

static void
s_naive_path (uint8_t (*leaves)[S_HASH], uint64_t m, uint64_t n, uint8_t *out,
              size_t *len)
{
    if (n == 1)
        return;
    uint64_t k = 1;
    while (k * 2 < n)
        k *= 2;
    if (m < k) {
        s_naive_path (leaves, m, k, out, len);
        s_mth (leaves + k, n - k, out + *len * S_HASH);
    } else {
        s_naive_path (leaves + k, m - k, n - k, out, len);
        s_mth (leaves, k, out + *len * S_HASH);
    }
    (*len)++;
}

static void
s_naive_subproof (uint8_t (*leaves)[S_HASH], uint64_t m, uint64_t n, bool b,
                  uint8_t *out, size_t *len)
{
    if (m == n) {
        if (!b) {
            s_mth (leaves, n, out + *len * S_HASH);
            (*len)++;
        }
        return;
    }
    uint64_t k = 1;
    while (k * 2 < n)
        k *= 2;
    if (m <= k) {
        s_naive_subproof (leaves, m, k, b, out, len);
        s_mth (leaves + k, n - k, out + *len * S_HASH);
    } else {
        s_naive_subproof (leaves + k, m - k, n - k, false, out, len);
        s_mth (leaves, k, out + *len * S_HASH);
    }
    (*len)++;
}

static void
s_hex (const char *hex, uint8_t *out, size_t size)
{
    size_t len = 0;
    ih_check (sodium_hex2bin (out, size, hex, strlen (hex), NULL, &len, NULL) ==
                  0 &&
              len == size);
}

//  Precomputed naive results for every (m, n), so the parameter-tampering
//  loops can ask "is this proof also genuinely valid for m', n'?"
typedef struct {
    uint8_t leaves[S_N + 2][S_HASH];
    uint8_t roots[S_N + 2][S_HASH];
    uint8_t path[S_N + 2][S_N + 2][S_MAXP * S_HASH];
    size_t path_len[S_N + 2][S_N + 2];
    uint8_t cons[S_N + 2][S_N + 2][S_MAXP * S_HASH];
    size_t cons_len[S_N + 2][S_N + 2];
} s_naive_t;

static bool
s_same (const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    return alen == blen && (alen == 0 || memcmp (a, b, alen * S_HASH) == 0);
}

static void
s_test_vectors (void)
{
    //  Certificate Transparency's reference tree (the C++ and Go CT
    //  merkle tests): 8 leaves, their roots, and some published proofs
    static const char *leaf_hex[] = {"",
                                     "00",
                                     "10",
                                     "2021",
                                     "3031",
                                     "40414243",
                                     "5051525354555657",
                                     "606162636465666768696a6b6c6d6e6f"};
    static const char *root_hex[] = {
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"};
    static const struct {
        uint64_t a, b; //  inclusion: index, size; consistency: old, new
        const char *hashes[3];
        size_t len;
    } incl[] =
        {
            {0,
             8,
             {"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc"
              "7",
              "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031"
              "e",
              "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e"
              "4"},
             3},
            {5,
             8,
             {"bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6"
              "b",
              "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae"
              "0",
              "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b"
              "7"},
             3},
            {2,
             3,
             {"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c12"
              "5"},
             1},
            {1,
             5,
             {"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01"
              "d",
              "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031"
              "e",
              "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6"
              "b"},
             3},
        },
      cons[] = {
          {1, 1, {NULL}, 0},
          {1,
           8,
           {"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"},
           3},
          {6,
           8,
           {"0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"},
           3},
          {2,
           5,
           {"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"},
           2},
      };
    s_store_t *st = (s_store_t *) calloc (1, sizeof (s_store_t));
    ih_check (st);
    st->fail_after = -1;
    uint8_t roots[9][S_HASH], leaves[8][S_HASH], want[3 * S_HASH];
    for (int i = 0; i < 9; i++)
        s_hex (root_hex[i], roots[i], S_HASH);
    for (uint64_t i = 0; i < 8; i++) {
        uint8_t data[16];
        size_t len = strlen (leaf_hex[i]) / 2;
        s_hex (leaf_hex[i], data, len);
        ih_merkle_leaf_hash (len ? data : NULL, len, leaves[i]);
        st->limit = i + 1;
        ih_check (ih_merkle_append (i, leaves[i], s_get, st, s_put, st) ==
                  IH_OK);
    }
    for (uint64_t n = 0; n <= 8; n++) {
        uint8_t root[S_HASH];
        st->limit = n;
        ih_check (ih_merkle_root (n, s_get, st, root) == IH_OK);
        ih_check (memcmp (root, roots[n], S_HASH) == 0);
    }
    st->limit = 8;
    for (size_t t = 0; t < sizeof (incl) / sizeof (incl[0]); t++) {
        for (size_t j = 0; j < incl[t].len; j++)
            s_hex (incl[t].hashes[j], want + j * S_HASH, S_HASH);
        uint8_t *path;
        size_t len;
        ih_check (ih_merkle_inclusion_proof (incl[t].a, incl[t].b, s_get, st,
                                             &path, &len) == IH_OK);
        ih_check (s_same (path, len, want, incl[t].len));
        ih_check (ih_merkle_verify_inclusion (incl[t].a, incl[t].b,
                                              leaves[incl[t].a], want, len,
                                              roots[incl[t].b]) == IH_OK);
        free (path);
    }
    for (size_t t = 0; t < sizeof (cons) / sizeof (cons[0]); t++) {
        for (size_t j = 0; j < cons[t].len; j++)
            s_hex (cons[t].hashes[j], want + j * S_HASH, S_HASH);
        uint8_t *proof;
        size_t len;
        ih_check (ih_merkle_consistency_proof (cons[t].a, cons[t].b, s_get, st,
                                               &proof, &len) == IH_OK);
        ih_check (s_same (proof, len, want, cons[t].len));
        ih_check (ih_merkle_verify_consistency (
                      cons[t].a, cons[t].b, roots[cons[t].a], roots[cons[t].b],
                      len ? want : NULL, len) == IH_OK);
        free (proof);
    }
    free (st);
}

//  Checks the inclusion proof of leaf m in the tree of size n every way
static void
s_test_inclusion (s_naive_t *nv, s_store_t *st, uint64_t m, uint64_t n)
{
    uint8_t *path;
    size_t len;
    st->limit = n;
    ih_check (ih_merkle_inclusion_proof (m, n, s_get, st, &path, &len) ==
              IH_OK);
    ih_check (s_same (path, len, nv->path[m][n], nv->path_len[m][n]));
    ih_check ((len == 0) == (path == NULL));
    const uint8_t *leaf = nv->leaves[m];
    ih_check (ih_merkle_verify_inclusion (m, n, leaf, path, len,
                                          nv->roots[n]) == IH_OK);
    //  Every byte of the path, the leaf and the root
    for (size_t i = 0; i < len * S_HASH; i++) {
        path[i] ^= 0x01;
        ih_check (ih_merkle_verify_inclusion (m, n, leaf, path, len,
                                              nv->roots[n]) == IH_E_PROOF);
        path[i] ^= 0x01;
    }
    //  (the leaf and roots at three byte positions: a hash is all or
    //  nothing, the proof bytes above are the part worth covering fully)
    uint8_t bad[S_HASH];
    for (size_t i = 0; i < S_HASH; i += 15) {
        memcpy (bad, leaf, S_HASH);
        bad[i] ^= 0x80;
        ih_check (ih_merkle_verify_inclusion (m, n, bad, path, len,
                                              nv->roots[n]) == IH_E_PROOF);
        memcpy (bad, nv->roots[n], S_HASH);
        bad[i] ^= 0x80;
        ih_check (ih_merkle_verify_inclusion (m, n, leaf, path, len, bad) ==
                  IH_E_PROOF);
    }
    //  Another leaf's hash, another index, a shorter or longer path
    for (uint64_t j = 0; j <= n; j++)
        if (j != m) {
            ih_check (ih_merkle_verify_inclusion (m, n, nv->leaves[j], path,
                                                  len,
                                                  nv->roots[n]) == IH_E_PROOF);
            ih_check (ih_merkle_verify_inclusion (j, n, leaf, path, len,
                                                  nv->roots[n]) == IH_E_PROOF);
        }
    if (len > 0)
        ih_check (ih_merkle_verify_inclusion (m, n, leaf, path, len - 1,
                                              nv->roots[n]) == IH_E_PROOF);
    uint8_t longer[(IH_MERKLE_PATH_MAX + 1) * S_HASH];
    if (len)
        memcpy (longer, path, len * S_HASH);
    memcpy (longer + len * S_HASH, leaf, S_HASH);
    ih_check (ih_merkle_verify_inclusion (m, n, leaf, longer, len + 1,
                                          nv->roots[n]) == IH_E_PROOF);
    //  Another size, with that size's true root: verifies exactly when the
    //  path is genuinely that tree's path too
    for (uint64_t n2 = n > 4 ? n - 4 : 1; n2 <= n + 1; n2++) {
        if (n2 == n)
            continue;
        bool genuine =
            m < n2 && s_same (path, len, nv->path[m][n2], nv->path_len[m][n2]);
        ih_check (ih_merkle_verify_inclusion (m, n2, leaf, path, len,
                                              nv->roots[n2]) ==
                  (genuine ? IH_OK : IH_E_PROOF));
    }
    free (path);
}

static void
s_test_consistency (s_naive_t *nv, s_store_t *st, uint64_t m, uint64_t n)
{
    uint8_t *proof;
    size_t len;
    st->limit = n;
    ih_check (ih_merkle_consistency_proof (m, n, s_get, st, &proof, &len) ==
              IH_OK);
    ih_check (s_same (proof, len, nv->cons[m][n], nv->cons_len[m][n]));
    ih_check (len < S_MAXP);
    const uint8_t *r1 = nv->roots[m], *r2 = nv->roots[n];
    ih_check (ih_merkle_verify_consistency (m, n, r1, r2, proof, len) == IH_OK);
    for (size_t i = 0; i < len * S_HASH; i++) {
        proof[i] ^= 0x01;
        ih_check (ih_merkle_verify_consistency (m, n, r1, r2, proof, len) ==
                  IH_E_PROOF);
        proof[i] ^= 0x01;
    }
    uint8_t bad[S_HASH];
    for (size_t i = 0; i < S_HASH; i += 15) {
        memcpy (bad, r1, S_HASH);
        bad[i] ^= 0x80;
        ih_check (ih_merkle_verify_consistency (m, n, bad, r2, proof, len) ==
                  IH_E_PROOF);
        //  (Every tree extends the empty one: then new_root is free)
        memcpy (bad, r2, S_HASH);
        bad[i] ^= 0x80;
        ih_check (ih_merkle_verify_consistency (m, n, r1, bad, proof, len) ==
                  (m == 0 ? IH_OK : IH_E_PROOF));
    }
    if (len > 0)
        ih_check (ih_merkle_verify_consistency (m, n, r1, r2, proof, len - 1) ==
                  IH_E_PROOF);
    uint8_t longer[(IH_MERKLE_PROOF_MAX + 1) * S_HASH];
    if (len)
        memcpy (longer, proof, len * S_HASH);
    memcpy (longer + len * S_HASH, r1, S_HASH);
    ih_check (ih_merkle_verify_consistency (m, n, r1, r2, longer, len + 1) ==
              IH_E_PROOF);
    //  Swapped sizes and roots
    if (m != n)
        ih_check (ih_merkle_verify_consistency (n, m, r2, r1, proof, len) ==
                  IH_E_PROOF);
    //  Other sizes with their true roots: verifies exactly when the proof
    //  is genuinely the proof between those sizes too
    //  (sizes near m and n, and the small ones where shapes coincide)
    for (uint64_t x = 0; x <= S_N + 1; x++) {
        bool near =
            x < 4 || (x + 4 >= m && x <= m + 4) || (x + 4 >= n && x <= n + 1);
        if (!near)
            continue;
        if (x != m) {
            bool genuine = x <= n && s_same (proof, len, nv->cons[x][n],
                                             nv->cons_len[x][n]);
            ih_check (ih_merkle_verify_consistency (x, n, nv->roots[x], r2,
                                                    proof, len) ==
                      (genuine ? IH_OK : IH_E_PROOF));
        }
        if (x != n && x >= 1) {
            bool genuine = m <= x && s_same (proof, len, nv->cons[m][x],
                                             nv->cons_len[m][x]);
            ih_check (ih_merkle_verify_consistency (m, x, r1, nv->roots[x],
                                                    proof, len) ==
                      (genuine ? IH_OK : IH_E_PROOF));
        }
    }
    free (proof);
}

void
ih_merkle_test (bool verbose)
{
    if (verbose)
        printf (" * ih_merkle: ");

    //  Hash primitives: the domain-separation prefixes
    uint8_t a[S_HASH], b[S_HASH], h[S_HASH], want[S_HASH];
    uint8_t buf[1 + 2 * S_HASH];
    ih_merkle_leaf_hash ((const uint8_t *) "abc", 3, h);
    buf[0] = 0;
    memcpy (buf + 1, "abc", 3);
    crypto_hash_sha256 (want, buf, 4);
    ih_check (memcmp (h, want, S_HASH) == 0);
    memset (a, 0xaa, S_HASH);
    memset (b, 0xbb, S_HASH);
    ih_merkle_node_hash (a, b, h);
    buf[0] = 1;
    memcpy (buf + 1, a, S_HASH);
    memcpy (buf + 1 + S_HASH, b, S_HASH);
    crypto_hash_sha256 (want, buf, sizeof (buf));
    ih_check (memcmp (h, want, S_HASH) == 0);
    ih_merkle_node_hash (a, b, a); //  aliasing
    ih_check (memcmp (a, want, S_HASH) == 0);

    s_test_vectors ();

    //  Leaves are real stored records (ih_record_encode), as in the hub
    s_naive_t *nv = (s_naive_t *) calloc (1, sizeof (s_naive_t));
    s_store_t *st = (s_store_t *) calloc (1, sizeof (s_store_t));
    ih_check (nv && st);
    st->fail_after = -1;
    for (uint64_t i = 0; i < S_N + 1; i++) {
        uint8_t event[80], *record;
        size_t record_size;
        memset (event, (int) i, sizeof (event));
        ih_check (ih_record_encode (1700000000000 + i, event, sizeof (event),
                                    &record, &record_size) == IH_OK);
        ih_merkle_leaf_hash (record, record_size, nv->leaves[i]);
        free (record);
        st->limit = i + 1;
        ih_check (ih_merkle_append (i, nv->leaves[i], s_get, st, s_put, st) ==
                  IH_OK);
    }
    for (uint64_t n = 0; n <= S_N + 1; n++) {
        s_mth (nv->leaves, n, nv->roots[n]);
        uint8_t root[S_HASH];
        st->limit = n;
        ih_check (ih_merkle_root (n, s_get, st, root) == IH_OK);
        ih_check (memcmp (root, nv->roots[n], S_HASH) == 0);
        for (uint64_t m = 0; m < n; m++)
            s_naive_path (nv->leaves, m, n, nv->path[m][n],
                          &nv->path_len[m][n]);
        for (uint64_t m = 1; m < n; m++)
            s_naive_subproof (nv->leaves, m, n, true, nv->cons[m][n],
                              &nv->cons_len[m][n]);
    }
    //  Every subtree the store holds is complete and correct, and it
    //  holds all of them
    for (uint64_t level = 0; level < S_LEVELS; level++)
        for (uint64_t i = 0; i <= S_N + 1; i++) {
            bool complete = ((i + 1) << level) <= S_N + 1;
            ih_check (st->have[level][i] == complete);
            if (complete) {
                s_mth (nv->leaves + (i << level), (uint64_t) 1 << level, h);
                ih_check (memcmp (h, st->hash[level][i], S_HASH) == 0);
            }
        }

    for (uint64_t n = 1; n <= S_N; n++) {
        for (uint64_t m = 0; m < n; m++)
            s_test_inclusion (nv, st, m, n);
        for (uint64_t m = 0; m <= n; m++)
            s_test_consistency (nv, st, m, n);
    }

    //  Bad arguments to the generators
    uint8_t *out = (uint8_t *) "x";
    size_t len = 99;
    st->limit = S_N;
    ih_check (ih_merkle_inclusion_proof (5, 5, s_get, st, &out, &len) ==
              IH_E_BADARG);
    ih_check (out == NULL && len == 0);
    ih_check (ih_merkle_consistency_proof (6, 5, s_get, st, &out, &len) ==
              IH_E_BADARG);
    ih_check (ih_merkle_verify_inclusion (0, 0, nv->leaves[0], NULL, 0,
                                          nv->roots[0]) == IH_E_PROOF);
    ih_check (ih_merkle_verify_inclusion (0, 1, nv->leaves[0], NULL, 0,
                                          nv->roots[1]) == IH_OK);
    //  A path longer than any tree can need is refused before hashing
    ih_check (ih_merkle_verify_inclusion (0, 2, nv->leaves[0], nv->leaves[0],
                                          IH_MERKLE_PATH_MAX + 1,
                                          nv->roots[2]) == IH_E_PROOF);
    ih_check (ih_merkle_verify_consistency (
                  1, 2, nv->roots[1], nv->roots[2], nv->leaves[0],
                  IH_MERKLE_PROOF_MAX + 1) == IH_E_PROOF);
    //  Sizes near 2^64: the verifiers terminate and refuse
    uint64_t big = UINT64_MAX;
    ih_check (ih_merkle_verify_inclusion (big - 1, big, nv->leaves[0],
                                          (const uint8_t *) nv->leaves, 64,
                                          nv->roots[1]) == IH_E_PROOF);
    ih_check (ih_merkle_verify_consistency (
                  big - 1, big, nv->roots[1], nv->roots[2],
                  (const uint8_t *) nv->leaves, 65) == IH_E_PROOF);
    ih_check (ih_merkle_verify_consistency (0, 5, nv->roots[1], nv->roots[5],
                                            NULL, 0) == IH_E_PROOF);

    //  A failing store: every call position turns into IH_E_STORE, no leak
    for (int k = 0; k < 12; k++) {
        st->fail_after = k;
        st->calls = 0;
        uint8_t *p = NULL;
        size_t plen = 0;
        ih_err_t rc = ih_merkle_inclusion_proof (37, S_N, s_get, st, &p, &plen);
        ih_check (rc == IH_E_STORE || (rc == IH_OK && st->calls <= k));
        free (p);
        st->calls = 0;
        rc = ih_merkle_consistency_proof (37, S_N, s_get, st, &p, &plen);
        ih_check (rc == IH_E_STORE || (rc == IH_OK && st->calls <= k));
        free (p);
        st->calls = 0;
        rc = ih_merkle_root (S_N, s_get, st, h);
        ih_check (rc == IH_E_STORE || (rc == IH_OK && st->calls <= k));
    }
    s_store_t *fresh = (s_store_t *) calloc (1, sizeof (s_store_t));
    ih_check (fresh);
    fresh->limit = 8;
    fresh->fail_after = -1;
    for (uint64_t i = 0; i < 7; i++)
        ih_check (ih_merkle_append (i, nv->leaves[i], s_get, fresh, s_put,
                                    fresh) == IH_OK);
    //  Appending leaf 7 completes three subtrees: 4 puts and 3 gets
    for (int k = 0; k < 7; k++) {
        s_store_t copy = *fresh;
        copy.fail_after = k;
        ih_check (ih_merkle_append (7, nv->leaves[7], s_get, &copy, s_put,
                                    &copy) == IH_E_STORE);
    }
    free (fresh);
    free (st);
    free (nv);
    if (verbose)
        printf ("OK\n");
}
