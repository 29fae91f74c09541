//! RFC 6962 Merkle tree hashing: leaf and node hashes, the compact right edge of a growing
//! tree, the subtree ranges of inclusion and consistency proofs, and their verification
//! (RFC 9162 §2.1.3.2 and §2.1.4.2).

use sha2::{Digest as _, Sha256};

/// A SHA-256 hash.
///
/// ```
/// let root: audit_core::integrity::merkle::Hash = audit_core::integrity::merkle::empty_root();
/// assert_eq!(root.len(), 32);
/// ```
pub type Hash = [u8; 32];

/// `SHA-256(0x00 ‖ data)`: the hash of a leaf.
///
/// ```
/// use audit_core::integrity::merkle::leaf_hash;
/// // RFC 6962's test vector: the hash of the empty leaf.
/// assert_eq!(hex(&leaf_hash(b"")), "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d");
/// # fn hex(h: &[u8]) -> String { h.iter().map(|b| format!("{b:02x}")).collect() }
/// ```
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([0u8]);
    hasher.update(data);
    hasher.finalize().into()
}

/// `SHA-256(0x01 ‖ left ‖ right)`: the hash of an interior node.
///
/// ```
/// use audit_core::integrity::merkle::{leaf_hash, node_hash, verify_inclusion};
/// // A tree of two leaves: its root is the node hash of the two leaf hashes.
/// let (a, b) = (leaf_hash(b"a"), leaf_hash(b"b"));
/// let root = node_hash(&a, &b);
/// verify_inclusion(0, 2, &a, &[b], &root)?;
/// # Ok::<(), audit_core::integrity::merkle::ProofError>(())
/// ```
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([1u8]);
    hasher.update(left);
    hasher.update(right);
    hasher.finalize().into()
}

/// The root of the empty tree, `SHA-256()`.
///
/// ```
/// use audit_core::integrity::merkle::empty_root;
/// // SHA-256 of nothing.
/// assert_eq!(empty_root()[..4], [0xe3, 0xb0, 0xc4, 0x42]);
/// ```
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// The largest power of two strictly smaller than `n` (`n >= 2`).
fn split(n: u64) -> u64 {
    1 << (63 - (n - 1).leading_zeros())
}

/// The right edge of a tree built from the left: the roots of its perfect subtrees,
/// biggest first (one per set bit of the size). Appending a leaf costs O(1) amortised and
/// the root O(log n), so a sealer and a verifier keep only this, whatever the size.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Frontier {
    size: u64,
    hashes: Vec<Hash>,
}

impl Frontier {
    /// The frontier of a tree of `size` leaves whose perfect subtrees have `hashes`.
    /// `None` when their number does not match `size`.
    pub(crate) fn from_parts(size: u64, hashes: Vec<Hash>) -> Option<Self> {
        (size.count_ones() as usize == hashes.len()).then_some(Frontier { size, hashes })
    }

    /// The number of leaves.
    pub(crate) fn size(&self) -> u64 {
        self.size
    }

    /// The perfect subtree roots, biggest first.
    pub(crate) fn hashes(&self) -> &[Hash] {
        &self.hashes
    }

    /// Appends a leaf hash. `completed` is called with `(level, index, hash)` of every
    /// perfect subtree of two or more leaves this completes.
    pub(crate) fn push(&mut self, leaf: Hash, mut completed: impl FnMut(u32, u64, &Hash)) {
        let mut hash = leaf;
        let mut level = 0;
        let index = self.size;
        while (index >> level) & 1 == 1 {
            let left = self.hashes.pop().unwrap_or_default();
            hash = node_hash(&left, &hash);
            level += 1;
            completed(level, index >> level, &hash);
        }
        self.hashes.push(hash);
        self.size += 1;
    }

    /// The root hash of the tree.
    pub(crate) fn root(&self) -> Hash {
        let mut hashes = self.hashes.iter().rev();
        let Some(last) = hashes.next() else {
            return empty_root();
        };
        hashes.fold(*last, |right, left| node_hash(left, &right))
    }
}

/// A range `[start, end)` of leaf indices whose subtree hash is one proof element.
pub(crate) type Range = (u64, u64);

/// The ranges of the audit path of leaf `index` in a tree of `size` leaves (RFC 6962
/// `PATH`), leaf side first. Empty when `index >= size`.
pub(crate) fn inclusion_ranges(index: u64, size: u64) -> Vec<Range> {
    let mut out = Vec::new();
    if index < size {
        path(index, 0, size, &mut out);
    }
    out
}

fn path(m: u64, start: u64, end: u64, out: &mut Vec<Range>) {
    let n = end - start;
    if n <= 1 {
        return;
    }
    let k = split(n);
    if m < k {
        path(m, start, start + k, out);
        out.push((start + k, end));
    } else {
        path(m - k, start + k, end, out);
        out.push((start, start + k));
    }
}

/// The ranges of the consistency proof from a tree of `old` leaves to one of `new` (RFC
/// 6962 `PROOF`). Empty when `old` is 0 or not smaller than `new`.
pub(crate) fn consistency_ranges(old: u64, new: u64) -> Vec<Range> {
    let mut out = Vec::new();
    if 0 < old && old < new {
        subproof(old, 0, new, true, &mut out);
    }
    out
}

fn subproof(m: u64, start: u64, end: u64, whole: bool, out: &mut Vec<Range>) {
    let n = end - start;
    if m == n {
        if !whole {
            out.push((start, end));
        }
        return;
    }
    let k = split(n);
    if m <= k {
        subproof(m, start, start + k, whole, out);
        out.push((start + k, end));
    } else {
        subproof(m - k, start + k, end, false, out);
        out.push((start, start + k));
    }
}

/// The perfect subtrees `(level, index)` whose hashes make up the hash of `range`, in the
/// order [`range_hash`] asks for them.
pub(crate) fn perfect_parts((start, end): Range, out: &mut Vec<(u32, u64)>) {
    let n = end - start;
    if n.is_power_of_two() && start % n == 0 {
        out.push((n.trailing_zeros(), start >> n.trailing_zeros()));
    } else if n > 1 {
        let k = split(n);
        perfect_parts((start, start + k), out);
        perfect_parts((start + k, end), out);
    }
}

/// The hash of `range` (`MTH(D[start:end])`), from the hashes of its perfect parts.
pub(crate) fn range_hash((start, end): Range, perfect: &mut impl FnMut(u32, u64) -> Hash) -> Hash {
    let n = end - start;
    if n.is_power_of_two() && start % n == 0 {
        perfect(n.trailing_zeros(), start >> n.trailing_zeros())
    } else {
        let k = split(n.max(2));
        let left = range_hash((start, start + k), perfect);
        let right = range_hash((start + k, end), perfect);
        node_hash(&left, &right)
    }
}

/// Why a proof does not verify.
///
/// ```
/// use audit_core::integrity::merkle::{ProofError, leaf_hash, node_hash, verify_inclusion};
/// let (a, b) = (leaf_hash(b"a"), leaf_hash(b"b"));
/// let root = node_hash(&a, &b);
/// assert_eq!(verify_inclusion(2, 2, &a, &[b], &root), Err(ProofError::OutOfRange { index: 2, size: 2 }));
/// assert_eq!(verify_inclusion(0, 2, &a, &[], &root), Err(ProofError::WrongLength { expected: 1, found: 0 }));
/// assert_eq!(verify_inclusion(0, 2, &b, &[a], &root), Err(ProofError::RootMismatch));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProofError {
    /// The leaf index is not inside the tree.
    #[error("leaf {index} is outside a tree of {size} leaves")]
    OutOfRange {
        /// The leaf index.
        index: u64,
        /// The tree size.
        size: u64,
    },
    /// The proof has the wrong number of hashes for the positions it claims.
    #[error("the proof has {found} hashes where {expected} are needed")]
    WrongLength {
        /// Hashes needed.
        expected: usize,
        /// Hashes given.
        found: usize,
    },
    /// The sizes cannot be consistent (the old tree is larger than the new one).
    #[error("a tree of {old} leaves cannot grow into one of {new}")]
    Sizes {
        /// The old size.
        old: u64,
        /// The new size.
        new: u64,
    },
    /// The hashes do not lead to the expected root.
    #[error("the proof does not lead to the expected root")]
    RootMismatch,
}

/// Checks that `leaf` is leaf `index` of the tree of `size` leaves with `root` (RFC 9162
/// §2.1.3.2). Every element of `proof` is used: a proof with extra or missing hashes fails.
///
/// ```
/// use audit_core::integrity::merkle::{leaf_hash, node_hash, verify_inclusion};
/// // Three leaves: root = node(node(a, b), c).
/// let (a, b, c) = (leaf_hash(b"a"), leaf_hash(b"b"), leaf_hash(b"c"));
/// let ab = node_hash(&a, &b);
/// let root = node_hash(&ab, &c);
/// verify_inclusion(2, 3, &c, &[ab], &root)?; // c's path is one hash
/// verify_inclusion(1, 3, &b, &[a, c], &root)?;
/// assert!(verify_inclusion(1, 3, &b, &[c, a], &root).is_err()); // order matters
/// # Ok::<(), audit_core::integrity::merkle::ProofError>(())
/// ```
pub fn verify_inclusion(
    index: u64,
    size: u64,
    leaf: &Hash,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    if index >= size {
        return Err(ProofError::OutOfRange { index, size });
    }
    let expected = inclusion_ranges(index, size).len();
    if proof.len() != expected {
        return Err(ProofError::WrongLength {
            expected,
            found: proof.len(),
        });
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if s == 0 {
            return Err(ProofError::RootMismatch);
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    if s == 0 && r == *root {
        Ok(())
    } else {
        Err(ProofError::RootMismatch)
    }
}

/// Checks that the tree of `old` leaves with `old_root` is a prefix of the tree of `new`
/// leaves with `new_root` (RFC 9162 §2.1.4.2).
///
/// ```
/// use audit_core::integrity::merkle::{leaf_hash, node_hash, verify_consistency};
/// let (a, b, c) = (leaf_hash(b"a"), leaf_hash(b"b"), leaf_hash(b"c"));
/// let old_root = node_hash(&a, &b); // two leaves
/// let new_root = node_hash(&old_root, &c); // then a third
/// verify_consistency(2, 3, &old_root, &new_root, &[c])?;
/// assert!(verify_consistency(2, 3, &leaf_hash(b"x"), &new_root, &[c]).is_err());
/// # Ok::<(), audit_core::integrity::merkle::ProofError>(())
/// ```
pub fn verify_consistency(
    old: u64,
    new: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    if old > new {
        return Err(ProofError::Sizes { old, new });
    }
    let expected = consistency_ranges(old, new).len();
    if proof.len() != expected {
        return Err(ProofError::WrongLength {
            expected,
            found: proof.len(),
        });
    }
    if old == new {
        return if old_root == new_root {
            Ok(())
        } else {
            Err(ProofError::RootMismatch)
        };
    }
    if old == 0 {
        return Ok(());
    }
    let mut nodes: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if old.is_power_of_two() {
        nodes.push(*old_root);
    }
    nodes.extend_from_slice(proof);
    let (mut f, mut s) = (old - 1, new - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let (mut fr, mut sr) = (nodes[0], nodes[0]);
    for c in &nodes[1..] {
        if s == 0 {
            return Err(ProofError::RootMismatch);
        }
        if f & 1 == 1 || f == s {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    if s == 0 && fr == *old_root && sr == *new_root {
        Ok(())
    } else {
        Err(ProofError::RootMismatch)
    }
}

#[cfg(test)]
mod tests {
    //! Vectors from transparency-dev/merkle (Apache-2.0): `testonly/constants.go`
    //! (`LeafInputs`, `RootHashes`) and `proof/verify_test.go` (`inclusionProofs`,
    //! `consistencyProofs`), the RFC 6962 reference data of Certificate Transparency.

    use super::*;

    fn h(hex: &str) -> Hash {
        hex::decode(hex).expect("hex").try_into().expect("32 bytes")
    }

    fn leaves() -> Vec<Vec<u8>> {
        [
            "",
            "00",
            "10",
            "2021",
            "3031",
            "40414243",
            "5051525354555657",
            "606162636465666768696a6b6c6d6e6f",
        ]
        .iter()
        .map(|l| hex::decode(l).expect("hex"))
        .collect()
    }

    /// `RootHashes()`, by tree size.
    const ROOTS: [&str; 9] = [
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    /// `inclusionProofs`: (1-based leaf, size, proof).
    fn inclusion_vectors() -> Vec<(u64, u64, Vec<Hash>)> {
        vec![
            (1, 1, vec![]),
            (
                1,
                8,
                vec![
                    h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
                    h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
                    h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
                ],
            ),
            (
                6,
                8,
                vec![
                    h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
                    h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
                    h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
                ],
            ),
            (
                3,
                3,
                vec![h(
                    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
                )],
            ),
            (
                2,
                5,
                vec![
                    h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
                    h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
                    h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
                ],
            ),
        ]
    }

    /// `consistencyProofs`: (size1, size2, proof).
    fn consistency_vectors() -> Vec<(u64, u64, Vec<Hash>)> {
        vec![
            (1, 1, vec![]),
            (
                1,
                8,
                vec![
                    h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
                    h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
                    h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
                ],
            ),
            (
                6,
                8,
                vec![
                    h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
                    h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
                    h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
                ],
            ),
            (
                2,
                5,
                vec![
                    h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
                    h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
                ],
            ),
            (
                6,
                7,
                vec![
                    h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
                    h("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
                    h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
                ],
            ),
        ]
    }

    fn leaf_hashes() -> Vec<Hash> {
        leaves().iter().map(|l| leaf_hash(l)).collect()
    }

    /// Builds a proof from `ranges` over the in-memory leaves.
    fn build(ranges: &[Range], leaves: &[Hash]) -> Vec<Hash> {
        ranges
            .iter()
            .map(|&r| {
                range_hash(r, &mut |level, index| {
                    let (a, b) = (index << level, (index + 1) << level);
                    let mut f = Frontier::default();
                    leaves[a as usize..b as usize]
                        .iter()
                        .for_each(|l| f.push(*l, |_, _, _| {}));
                    f.root()
                })
            })
            .collect()
    }

    #[test]
    fn roots_match_the_reference_roots() {
        let leaves = leaf_hashes();
        let mut frontier = Frontier::default();
        assert_eq!(frontier.root(), h(ROOTS[0]));
        for (size, leaf) in leaves.iter().enumerate() {
            frontier.push(*leaf, |_, _, _| {});
            assert_eq!(frontier.root(), h(ROOTS[size + 1]), "size {}", size + 1);
            let whole = build(&[(0, size as u64 + 1)], &leaves);
            assert_eq!(whole[0], h(ROOTS[size + 1]));
        }
    }

    #[test]
    fn inclusion_proofs_match_the_reference_proofs_and_verify() {
        let leaves = leaf_hashes();
        for (leaf, size, expected) in inclusion_vectors() {
            let index = leaf - 1;
            let proof = build(&inclusion_ranges(index, size), &leaves);
            assert_eq!(proof, expected, "leaf {leaf} of {size}");
            let root = h(ROOTS[size as usize]);
            let hash = leaves[index as usize];
            verify_inclusion(index, size, &hash, &proof, &root).expect("verifies");
            // Corruptions in the style of the reference tests: none may verify.
            let wrong = [
                verify_inclusion(index + 1, size, &hash, &proof, &root),
                verify_inclusion(index, size * 2, &hash, &proof, &root),
                verify_inclusion(index, size, &leaf_hash(b"WrongLeaf"), &proof, &root),
                verify_inclusion(index, size, &hash, &proof, &empty_root()),
                verify_inclusion(
                    index,
                    size,
                    &hash,
                    &[proof.clone(), vec![root]].concat(),
                    &root,
                ),
                verify_inclusion(
                    index,
                    size,
                    &hash,
                    &[vec![root], proof.clone()].concat(),
                    &root,
                ),
            ];
            assert!(wrong.iter().all(Result::is_err), "{wrong:?}");
            for i in 0..proof.len() {
                let mut bad = proof.clone();
                bad[i][0] ^= 8;
                assert!(verify_inclusion(index, size, &hash, &bad, &root).is_err());
                let short = &proof[..proof.len() - 1];
                assert!(verify_inclusion(index, size, &hash, short, &root).is_err());
            }
        }
    }

    #[test]
    fn consistency_proofs_match_the_reference_proofs_and_verify() {
        let leaves = leaf_hashes();
        for (old, new, expected) in consistency_vectors() {
            let proof = build(&consistency_ranges(old, new), &leaves);
            assert_eq!(proof, expected, "{old} -> {new}");
            let (r1, r2) = (h(ROOTS[old as usize]), h(ROOTS[new as usize]));
            verify_consistency(old, new, &r1, &r2, &proof).expect("verifies");
            if proof.is_empty() {
                continue;
            }
            let wrong = [
                verify_consistency(old, new, &r2, &r1, &proof),
                verify_consistency(old, new * 2, &r1, &r2, &proof),
                verify_consistency(old, new, &r1, &r2, &[]),
                verify_consistency(old, new, &r1, &r2, &proof[..proof.len() - 1]),
                verify_consistency(old, new, &r1, &r2, &[proof.clone(), vec![r1]].concat()),
            ];
            assert!(wrong.iter().all(Result::is_err), "{wrong:?}");
            for i in 0..proof.len() {
                let mut bad = proof.clone();
                bad[i][0] ^= 16;
                assert!(verify_consistency(old, new, &r1, &r2, &bad).is_err());
            }
        }
    }

    #[test]
    fn every_proof_of_every_small_tree_verifies() {
        let leaves: Vec<Hash> = (0..70u32).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        let mut roots = vec![empty_root()];
        let mut frontier = Frontier::default();
        for l in &leaves {
            frontier.push(*l, |_, _, _| {});
            roots.push(frontier.root());
        }
        for size in 1..=leaves.len() as u64 {
            for index in 0..size {
                let proof = build(&inclusion_ranges(index, size), &leaves);
                let (leaf, root) = (&leaves[index as usize], &roots[size as usize]);
                verify_inclusion(index, size, leaf, &proof, root).expect("inclusion");
            }
            for old in 1..=size {
                let proof = build(&consistency_ranges(old, size), &leaves);
                let (r1, r2) = (&roots[old as usize], &roots[size as usize]);
                verify_consistency(old, size, r1, r2, &proof).expect("consistency");
            }
        }
    }

    #[test]
    fn completed_subtrees_are_reported_with_their_hash() {
        let leaves: Vec<Hash> = (0..37u32).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        let mut frontier = Frontier::default();
        let mut nodes = std::collections::HashMap::new();
        for l in &leaves {
            frontier.push(*l, |level, index, hash| {
                nodes.insert((level, index), *hash);
            });
        }
        assert_eq!(nodes.len(), 37 - 37usize.count_ones() as usize);
        let root16 = build(&[(16, 32)], &leaves)[0];
        assert_eq!(nodes[&(4, 1)], root16);
    }
}
