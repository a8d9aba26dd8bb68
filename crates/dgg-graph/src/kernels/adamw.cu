// AdamW with decoupled weight decay, one thread per parameter: the CUDA twin of optim.rs's fused
// CPU update (same operations in the same order; that one is the reference in the tests). One
// launch per parameter tensor instead of about fifteen element-wise kernels.
extern "C" __global__ void adamw_f32(float *__restrict__ p, const float *__restrict__ g, float *__restrict__ m,
                                     float *__restrict__ v, unsigned int n, float lr, float beta1, float beta2,
                                     float eps, float decay, float correction1, float correction2) {
    for (unsigned int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x) {
        const float gi = g[i];
        const float mi = beta1 * m[i] + (1.0f - beta1) * gi;
        const float vi = beta2 * v[i] + (1.0f - beta2) * gi * gi;
        m[i] = mi;
        v[i] = vi;
        const float m_hat = mi / correction1;
        const float v_hat = vi / correction2;
        p[i] = p[i] * decay - lr * m_hat / (sqrtf(v_hat) + eps);
    }
}
