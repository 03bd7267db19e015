//! What a run says: its first line, where it stopped and how to go on, what patience and
//! `--keep-best` did, its plot's title and its summary line.

use std::path::Path;

use super::{Data, Fitted, Run, Summary};
use crate::cli::NN;
use crate::data::Source;
use crate::kernels::Kernels;
use crate::nn::{Model, Network};

impl std::fmt::Display for Run {
    /// `[2] dense:64,relu,dense:32,relu → 2, cross-entropy (270 train, 30 validation rows), adamw lr 0.001 batch 32, epochs 1..20`,
    /// or for a GPT `gpt:4:4:128 over 65 characters, block 64 (1003854 train characters, 1741 validation windows), …, steps 1..2000`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let fit = &self.training.fit;
        let (train, valid) = self.data.sizes();
        match (&self.model, &self.data) {
            (Network::Gpt(gpt), Data::Text(corpus)) => {
                let c = gpt.config();
                write!(
                    f,
                    "gpt:{}:{}:{} over {} characters, block {} ({} train characters, {valid} validation windows)",
                    c.n_layer, c.n_head, c.n_embd, c.vocab, c.block_size, corpus.train_len()
                )?;
            }
            (Network::Net(net), _) => {
                let net = net.config();
                write!(
                    f,
                    "{:?} {} → {}, {} ({train} train, {valid} validation rows)",
                    net.input, net.layers, net.outputs, net.loss
                )?;
            }
            (Network::Gpt(_), Data::Samples { .. }) => f.write_str("a GPT on rows of samples")?,
        }
        write!(
            f,
            ", {} lr {} batch {}",
            fit.optimizer.kind(),
            fit.lr,
            fit.batch_size
        )?;
        if fit.schedule != Default::default() {
            write!(f, " schedule {}", fit.schedule)?;
        }
        if let Some(clip) = fit.grad_clip {
            write!(f, " clip {clip}")?;
        }
        match fit.steps {
            Some(steps) => write!(f, ", steps {}..{steps}", self.training.steps + 1),
            None => write!(f, ", epochs {}..{}", self.training.epochs + 1, fit.epochs),
        }
    }
}

impl Run {
    /// The one line that says where a stopped run stopped and the command that goes on from
    /// there, as it runs from a clone of the repository (or that nothing was kept). `last` is
    /// the checkpoint written after every epoch, `best` the `--keep-best` model beside it.
    pub fn stopped_line(&self, last: Option<&Path>, best: Option<&Path>, data: &Source) -> String {
        let t = &self.training;
        let at = match t.fit.steps {
            Some(_) => format!("stopped after step {}", t.steps),
            None => format!(
                "stopped in epoch {} after {} batches",
                t.epochs + 1,
                t.batch
            ),
        };
        let Some(last) = last else {
            return format!("{at}: nothing was kept (train with --save PATH to keep the state)");
        };
        // Ranks go on as they ran (any number of them would do: see the README).
        let nn = match self.ranks().size() {
            1 => NN.to_string(),
            n => format!("mpirun -np {n} target/release/examples/nn"),
        };
        let mut go_on = format!(
            "{nn} train --resume {} --data {}",
            shell_word(&last.display().to_string()),
            shell_word(&data.to_string())
        );
        if let Source::Csv(_, options) = data {
            if let Some(d) = options.delimiter {
                let d = if d == b'\t' {
                    "tab".to_string()
                } else {
                    char::from(d).to_string()
                };
                go_on += &format!(" --delimiter {}", shell_word(&d));
            }
            if options.drop_incomplete {
                go_on += " --drop-incomplete";
            }
        }
        go_on += &match t.fit.steps {
            Some(steps) => format!(" --steps {steps}"),
            None => format!(" --epochs {}", t.fit.epochs),
        };
        if let Some(size) = self.next_batch_size {
            go_on += &format!(" --batch-size {size}");
        }
        if self.model.kernels() != Kernels::default() {
            go_on += &format!(" --kernels {}", self.model.kernels());
        }
        go_on += &match best {
            Some(best) => format!(
                " --save {} --keep-best",
                shell_word(&best.display().to_string())
            ),
            None => format!(" --save {}", shell_word(&last.display().to_string())),
        };
        format!("{at}: saved to {}; go on with `{go_on}`", last.display())
    }

    /// The line a run that saves nothing prints at its start: what is lost, and how to keep it.
    pub fn keeps_nothing_line(&self, resumed: Option<&Path>) -> String {
        match resumed {
            Some(path) => format!(
                "no --save: this run keeps nothing, and {} stays as it was ({}); add --save {} to go on in it",
                path.display(),
                match (self.training.fit.steps, self.training.batch) {
                    (Some(_), _) => format!("{} steps done", self.training.steps),
                    (None, 0) => format!("{} epochs done", self.training.epochs),
                    (None, b) => format!("{} epochs and {b} batches done", self.training.epochs),
                },
                shell_word(&path.display().to_string())
            ),
            None => "no --save: this run keeps nothing; add --save PATH.safetensors to keep the model".to_string(),
        }
    }

    /// What `--patience` and `--keep-best` did, one line each (none when neither was asked for).
    pub fn early_lines(
        &self,
        fitted: &Fitted,
        best: Option<&Path>,
        last: Option<&Path>,
    ) -> Vec<String> {
        let mut lines = Vec::new();
        let Some((at, loss)) = self.training.best else {
            return lines;
        };
        let (unit, times, kept) = match self.training.fit.steps {
            Some(_) => ("step", "evaluations", "evaluation"),
            None => ("epoch", "epochs", "epoch"),
        };
        if fitted.patience_ran_out {
            let patience = self.training.fit.patience.unwrap_or(0);
            lines.push(format!("stopped early: the validation loss has not improved for {patience} {times} (best {loss:.5} at {unit} {at})"));
        }
        if let (Some(best), Some(last)) = (best, last) {
            lines.push(format!(
                "kept the best {kept}'s model ({unit} {at}, validation loss {loss:.5}) in {}; the last {kept}'s, to resume, is in {}",
                best.display(),
                last.display()
            ));
        }
        lines
    }

    /// What this run's reports count: epochs, or steps.
    pub fn unit(&self) -> crate::nn::Unit {
        self.training.fit.unit()
    }

    /// The title of this run's loss plot: `cross-entropy loss, adamw on spirals:500`.
    pub fn title(&self, data: &Source) -> String {
        let optimizer = self.training.fit.optimizer.kind();
        format!("{} loss, {optimizer} on {data}", self.spec.loss)
    }
}

impl std::fmt::Display for Summary {
    /// `trained 20 epochs in 1.25 s (43210 samples/s)`, or for a text `trained to step 2000 in
    /// 51.3 s (18012 characters/s)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.tokens_per_sec {
            Some(tokens) => write!(
                f,
                "trained to step {} in {:.2} s ({tokens:.0} characters/s)",
                self.steps, self.seconds
            ),
            None => write!(
                f,
                "trained {} epochs in {:.2} s ({:.0} samples/s)",
                self.epochs, self.seconds, self.samples_per_sec
            ),
        }
    }
}

/// `word` as one word of a shell command: as it is when it holds nothing a shell reads
/// otherwise, else in single quotes.
fn shell_word(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./:,=+@%".contains(c);
    match !word.is_empty() && word.chars().all(plain) {
        true => word.to_string(),
        false => format!("'{}'", word.replace('\'', "'\\''")),
    }
}
