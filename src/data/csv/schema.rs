//! What a table's columns mean, fitted on the training file and saved with the model: the
//! target, each feature column (a number, or text one-hot over its categories), the classes.

/// What a table's columns mean: fitted on the training file, saved with the model.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Schema {
    /// The target column's name.
    pub target: String,
    /// The feature columns, in the order of the model's inputs.
    pub features: Vec<Column>,
    /// The class names, in class-id order; `None` for regression targets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classes: Option<Vec<String>>,
}

/// One feature column.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Column {
    /// Its name in the header.
    pub name: String,
    /// For a text column, its categories in the order of its one-hot inputs; `None` for numbers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub categories: Option<Vec<String>>,
}

impl Schema {
    /// The model inputs the features take: one per number column, one per category of a text column.
    pub fn width(&self) -> usize {
        self.features
            .iter()
            .map(|c| c.categories.as_ref().map_or(1, Vec::len))
            .sum()
    }
}
