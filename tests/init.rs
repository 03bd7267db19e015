//! Initial weights: numpy's legacy generator reproduced bit for bit, and the crate's own seeds.

mod common;

use candle_core::{DType, Device};
use common::values;
use simple_nn::rng::{Mt19937, SplitMix64};
use simple_nn::tutorial::Init;

/// Printed by numpy 2.x:
/// ```python
/// import numpy as np
/// np.random.seed(1)
/// w0 = 2 * np.random.random((3, 4)) - 1
/// w1 = 2 * np.random.random((4, 1)) - 1
/// print([repr(v) for v in w0.ravel()], [repr(v) for v in w1.ravel()])
/// ```
const NUMPY_SEED_1_W0: [f64; 12] = [
    -0.165955990594852,
    0.4406489868843162,
    -0.9997712503653102,
    -0.39533485473632046,
    -0.7064882183657739,
    -0.8153228104624044,
    -0.6274795772446582,
    -0.3088785459139045,
    -0.20646505153866013,
    0.07763346800671389,
    -0.1616109711934104,
    0.370439000793519,
];
const NUMPY_SEED_1_W1: [f64; 4] = [
    -0.5910955005369651,
    0.7562348727818908,
    -0.9452248136041477,
    0.34093502035680445,
];

#[test]
fn numpy_1_reproduces_numpys_weights_exactly() {
    let ws = Init::Numpy(1)
        .weights(&[3, 4, 1], DType::F64, &Device::Cpu)
        .unwrap();
    assert_eq!(ws[0].dims(), [3, 4]);
    assert_eq!(ws[1].dims(), [4, 1]);
    assert_eq!(values(&ws[0]), NUMPY_SEED_1_W0);
    assert_eq!(values(&ws[1]), NUMPY_SEED_1_W1);
}

#[test]
fn mt19937_matches_numpy_and_the_reference_generator() {
    // `np.random.seed(1); np.random.random()` and `np.random.seed(4294967295); …`.
    assert_eq!(Mt19937::new(1).random_sample(), 0.417022004702574);
    assert_eq!(
        Mt19937::new(4_294_967_295).random_sample(),
        0.0976320289940138
    );
    // `np.random.seed(0); np.random.random(700)[-1]`: 1400 draws, past two twists of the state.
    let mut rng = Mt19937::new(0);
    let last = (0..700).map(|_| rng.random_sample()).last().unwrap();
    assert_eq!(last, 0.8427768626848423);
    // Matsumoto and Nishimura's mt19937ar.c: the first output of init_genrand(5489).
    assert_eq!(Mt19937::new(5489).next_u32(), 3_499_211_612);
}

#[test]
fn splitmix64_matches_its_reference_outputs() {
    // Vigna's splitmix64.c with x = 1234567: the first three outputs.
    let mut rng = SplitMix64::new(1_234_567);
    assert_eq!(rng.next_u64(), 6_457_827_717_110_365_317);
    assert_eq!(rng.next_u64(), 3_203_168_211_198_807_973);
    assert_eq!(rng.next_u64(), 9_817_491_932_198_370_423);
    // And so does the tests' own copy, which the dropout tests draw their masks from.
    let mut own = common::SplitMix64(1_234_567);
    assert_eq!(own.next_u64(), 6_457_827_717_110_365_317);
    assert_eq!(own.next_u64(), 3_203_168_211_198_807_973);
    assert_eq!(own.next_u64(), 9_817_491_932_198_370_423);
}

#[test]
fn uniform_seed_gives_the_same_weights_in_every_dtype_and_stays_in_range() {
    let sizes = [3, 16, 8, 1];
    let f64_ws = Init::Uniform(42)
        .weights(&sizes, DType::F64, &Device::Cpu)
        .unwrap();
    let again = Init::Uniform(42)
        .weights(&sizes, DType::F64, &Device::Cpu)
        .unwrap();
    let f32_ws = Init::Uniform(42)
        .weights(&sizes, DType::F32, &Device::Cpu)
        .unwrap();
    let other = Init::Uniform(43)
        .weights(&sizes, DType::F64, &Device::Cpu)
        .unwrap();
    for (i, w) in f64_ws.iter().enumerate() {
        assert_eq!(w.dims(), [sizes[i], sizes[i + 1]]);
        assert_eq!(values(w), values(&again[i]));
        assert_ne!(values(w), values(&other[i]));
        let as_f32: Vec<f64> = values(w).iter().map(|&v| v as f32 as f64).collect();
        assert_eq!(values(&f32_ws[i]), as_f32);
        assert!(values(w).iter().all(|v| (-1.0..1.0).contains(v)));
    }
    let all: Vec<f64> = f64_ws.iter().flat_map(values).collect();
    let mean = all.iter().sum::<f64>() / all.len() as f64;
    assert!(mean.abs() < 0.15, "{} draws average {mean}", all.len());
}

#[test]
fn init_specs_parse_and_bad_ones_say_what_to_write() {
    assert_eq!("numpy:1".parse::<Init>(), Ok(Init::Numpy(1)));
    assert_eq!("uniform:7".parse::<Init>(), Ok(Init::Uniform(7)));
    assert_eq!("w.npz".parse::<Init>(), Ok(Init::File("w.npz".into())));
    assert_eq!(
        "w.safetensors".parse::<Init>(),
        Ok(Init::File("w.safetensors".into()))
    );
    assert!("numpy:abc"
        .parse::<Init>()
        .unwrap_err()
        .contains("0 to 4294967295"));
    assert!("numpy:-1".parse::<Init>().is_err());
    assert!("numpy:4294967296".parse::<Init>().is_err());
    assert!("uniform:x"
        .parse::<Init>()
        .unwrap_err()
        .contains("uniform seed"));
    assert!("weights.txt"
        .parse::<Init>()
        .unwrap_err()
        .contains(".npz or .safetensors"));
    assert_eq!(
        Init::default().to_string().parse::<Init>(),
        Ok(Init::default())
    );
}
