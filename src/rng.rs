//! The seeded generators: numpy's legacy MT19937, the crate's own SplitMix64, and the streams
//! a run's one seed is split into.
//!
//! Every random choice of the crate comes from a seed, so that a run can be repeated exactly on
//! any machine, device and dtype. A run has one seed (`--seed`) and many purposes: each
//! parameter tensor's initial values, the train/validation split, each epoch's order, each
//! dropout mask, each batch of text windows, each sampled token. Each draws from a stream of its
//! own, [`stream`]`(seed, purpose, index)`: SplitMix64 started from a key that mixes the three
//! with SplitMix64's finaliser, one round per word, so that no two purposes (and no two indices
//! of one purpose) read the same numbers. SplitMix64's state is a counter, so two streams are the
//! same sequence started at two points; the keys put those points at independent places of the
//! 2^64 states, and streams of n draws overlap with odds of about n/2^63: never, for any run.
//! (Started from `seed`, `seed + 1`, … or `seed ^ d·γ` instead, stream d + 1 would be stream d
//! shifted by one draw, as the crate's dropout masks once were.)
//!
//! The tutorial's `--init uniform:SEED` is the one exception: its weights are the one thing it
//! draws, from `SplitMix64::new(SEED)` as its README has always printed them.

/// numpy's legacy generator: MT19937 seeded by `init_genrand`, as `np.random.seed(int)` does.
#[derive(Clone)]
pub struct Mt19937 {
    state: [u32; 624],
    index: usize,
}

impl Mt19937 {
    const N: usize = 624;
    const M: usize = 397;

    /// The generator after `np.random.seed(seed)`.
    pub fn new(seed: u32) -> Self {
        let mut state = [0u32; Self::N];
        state[0] = seed;
        for i in 1..Self::N {
            let prev = state[i - 1];
            state[i] = 1_812_433_253u32
                .wrapping_mul(prev ^ (prev >> 30))
                .wrapping_add(i as u32);
        }
        Self {
            state,
            index: Self::N,
        }
    }

    /// The next tempered 32-bit output.
    pub fn next_u32(&mut self) -> u32 {
        if self.index >= Self::N {
            self.twist();
        }
        let mut y = self.state[self.index];
        self.index += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^ (y >> 18)
    }

    /// A double in [0, 1) from two draws, as `np.random.random()` makes it.
    pub fn random_sample(&mut self) -> f64 {
        let a = self.next_u32() >> 5;
        let b = self.next_u32() >> 6;
        (f64::from(a) * 67_108_864.0 + f64::from(b)) / 9_007_199_254_740_992.0
    }

    fn twist(&mut self) {
        for i in 0..Self::N {
            let y = (self.state[i] & 0x8000_0000) | (self.state[(i + 1) % Self::N] & 0x7fff_ffff);
            let mut next = self.state[(i + Self::M) % Self::N] ^ (y >> 1);
            if y & 1 == 1 {
                next ^= 0x9908_b0df;
            }
            self.state[i] = next;
        }
        self.index = 0;
    }
}

/// The crate's own small seeded generator (Vigna's SplitMix64).
#[derive(Clone)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator whose whole output is fixed by `seed`.
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix64(self.state)
    }

    /// A double in [0, 1) from the top 53 bits.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / 9_007_199_254_740_992.0
    }

    /// A draw of the standard normal distribution, by Box and Muller's transform of two
    /// uniform draws (the cosine branch; the sine branch is not kept).
    pub fn next_normal(&mut self) -> f64 {
        let u1 = 1.0 - self.next_f64();
        let u2 = self.next_f64();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// Skips the next `n` outputs at once (the state is a counter), so that parts of one
    /// stream can be drawn apart.
    pub fn skip(&mut self, n: u64) {
        self.state = self
            .state
            .wrapping_add(n.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    }
}

/// What a random stream is for: each purpose of a run draws from streams of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// The initial values of one parameter tensor (the index names the tensor: [`name_index`]).
    Init,
    /// The train/validation split.
    Split,
    /// One epoch's order of the samples (the index is the epoch, counted from 0).
    Order,
    /// One dropout mask (the index counts the masks the model has drawn).
    Dropout,
    /// One training step's windows of text (the index is the step).
    Windows,
    /// The tokens a generation samples.
    Sampling,
    /// A generated data set (`spirals:N`; the index tells its parts apart).
    Synthetic,
}

impl Purpose {
    /// The word mixed into the key: distinct for each purpose, and fixed, since checkpoints
    /// replay the streams it gives.
    fn word(self) -> u64 {
        match self {
            Purpose::Init => 0x696e_6974,
            Purpose::Split => 0x7370_6c69_74,
            Purpose::Order => 0x6f72_6465_72,
            Purpose::Dropout => 0x6472_6f70,
            Purpose::Windows => 0x7769_6e64_6f77,
            Purpose::Sampling => 0x7361_6d70_6c65,
            Purpose::Synthetic => 0x7379_6e74_6865,
        }
    }
}

/// The version of [`key`]'s derivation, saved with a run: a checkpoint written under another
/// cannot replay its batches and masks.
pub const STREAMS: u32 = 1;

/// SplitMix64's output function (Stafford's variant 13): a bijection of the 64-bit words whose
/// every output bit depends on every input bit.
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The starting state of the stream for `(seed, purpose, index)`: one round of [`mix64`] per word.
pub fn key(seed: u64, purpose: Purpose, index: u64) -> u64 {
    const GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;
    let h = mix64(seed.wrapping_add(GAMMA));
    let h = mix64((h ^ purpose.word()).wrapping_add(GAMMA));
    mix64((h ^ index).wrapping_add(GAMMA))
}

/// The generator of `purpose`'s `index`-th stream under `seed`.
pub fn stream(seed: u64, purpose: Purpose, index: u64) -> SplitMix64 {
    SplitMix64::new(key(seed, purpose, index))
}

/// The index of a named thing's stream (a parameter's name): FNV-1a over its bytes, so that a
/// tensor's values depend on its name, not on how many tensors were drawn before it.
pub fn name_index(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}
