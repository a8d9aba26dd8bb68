//! The fused CPU Adam against candle-nn's AdamW (the reference implementation) over several steps.

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use dgg_graph::optim::Adam;

fn problem() -> (Var, Tensor) {
    let dev = Device::Cpu;
    let w = Var::from_tensor(&Tensor::arange(0f32, 40000.0, &dev).unwrap().affine(1e-4, -2.0).unwrap().reshape((200, 200)).unwrap()).unwrap();
    let target = Tensor::arange(0f32, 40000.0, &dev).unwrap().affine(-3e-5, 0.5).unwrap().reshape((200, 200)).unwrap().sin().unwrap();
    (w, target)
}

fn loss(w: &Var, target: &Tensor) -> Tensor {
    (w.as_tensor().sqr().unwrap() - target).unwrap().sqr().unwrap().sum_all().unwrap()
}

#[test]
fn fused_adam_matches_candle_adamw() {
    let params = ParamsAdamW { lr: 0.01, weight_decay: 0.05, ..Default::default() };
    let (w1, target) = problem();
    let (w2, _) = problem();
    let mut fused = Adam::new(vec![w1.clone()], params.clone()).unwrap();
    let mut reference = AdamW::new(vec![w2.clone()], params).unwrap();
    for step in 0..20 {
        if step == 10 {
            fused.set_learning_rate(0.005);
            reference.set_learning_rate(0.005);
        }
        fused.backward_step(&loss(&w1, &target)).unwrap();
        reference.backward_step(&loss(&w2, &target)).unwrap();
    }
    let diff = (w1.as_tensor() - w2.as_tensor()).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
    let moved = (w1.as_tensor() - problem().0.as_tensor()).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
    assert!(moved > 0.05, "the parameters barely moved ({moved})");
    assert!(diff < 1e-5, "fused and reference differ by {diff}");
}

#[test]
fn f64_parameters_use_the_tensor_path() {
    let dev = Device::Cpu;
    let w = Var::from_tensor(&Tensor::ones(4, DType::F64, &dev).unwrap()).unwrap();
    let mut opt = Adam::new(vec![w.clone()], ParamsAdamW { lr: 0.1, weight_decay: 0.0, ..Default::default() }).unwrap();
    opt.backward_step(&w.as_tensor().sqr().unwrap().sum_all().unwrap()).unwrap();
    let v: Vec<f64> = w.as_tensor().to_vec1().unwrap();
    // The first Adam step moves every parameter by lr (m_hat / sqrt(v_hat) = sign(g)).
    assert!(v.iter().all(|x| (x - 0.9).abs() < 1e-6), "{v:?}");
    // And matches candle's AdamW on the same problem over further steps.
    let w2 = Var::from_tensor(&Tensor::ones(4, DType::F64, &dev).unwrap()).unwrap();
    let mut reference = AdamW::new(vec![w2.clone()], ParamsAdamW { lr: 0.1, weight_decay: 0.0, ..Default::default() }).unwrap();
    reference.backward_step(&w2.as_tensor().sqr().unwrap().sum_all().unwrap()).unwrap();
    for _ in 0..5 {
        opt.backward_step(&w.as_tensor().sqr().unwrap().sum_all().unwrap()).unwrap();
        reference.backward_step(&w2.as_tensor().sqr().unwrap().sum_all().unwrap()).unwrap();
    }
    let diff = (w.as_tensor() - w2.as_tensor()).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f64>().unwrap();
    assert!(diff < 1e-12, "{diff}");
}
