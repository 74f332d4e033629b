//! The strict CSV reader of the report's inputs: a file whose header must hold every
//! expected column, rows as wide as the header, and typed accessors whose errors name the
//! file, the line, the column and the value.

use std::collections::HashMap;
use std::fmt::Display;
use std::path::{Path, PathBuf};

use super::Band;
use crate::error::{chain, ReportError, Result};

/// A CSV file opened with its header checked: every expected column present.
pub(crate) struct Table {
    path: PathBuf,
    reader: csv::Reader<std::fs::File>,
    index: HashMap<String, usize>,
    width: usize,
}

impl Table {
    pub(crate) fn open(path: &Path, columns: &[String]) -> Result<Self> {
        let file = emc_results::open_result_file(path)
            .map_err(|e| ReportError::input(path, None, chain(&e)))?;
        let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(file);
        let header = reader.headers().map_err(|e| csv_error(path, e))?.clone();
        let index: HashMap<String, usize> = header
            .iter()
            .enumerate()
            .map(|(i, name)| (name.trim().to_string(), i))
            .collect();
        if let Some(missing) = columns.iter().find(|c| !index.contains_key(c.as_str())) {
            let expected = columns.join(",");
            return Err(ReportError::input(
                path,
                Some(1),
                format_args!("missing column `{missing}` (expected columns: {expected})"),
            ));
        }
        Ok(Self {
            path: path.to_owned(),
            reader,
            index,
            width: header.len(),
        })
    }

    /// The data rows, each checked to have as many fields as the header.
    pub(crate) fn rows(&mut self) -> Result<Vec<Row<'_>>> {
        let mut rows = Vec::new();
        for record in self.reader.records() {
            let record = record.map_err(|e| csv_error(&self.path, e))?;
            let line = record.position().map_or(0, |p| p.line());
            if record.len() != self.width {
                let (found, width) = (record.len(), self.width);
                return Err(ReportError::input(
                    &self.path,
                    Some(line),
                    format_args!("{found} fields, but the header has {width}"),
                ));
            }
            rows.push(Row {
                path: &self.path,
                index: &self.index,
                line,
                record,
            });
        }
        Ok(rows)
    }
}

fn csv_error(path: &Path, e: csv::Error) -> ReportError {
    ReportError::input(path, e.position().map(|p| p.line()), e)
}

/// One data row, with typed, located accessors.
pub(crate) struct Row<'a> {
    path: &'a Path,
    index: &'a HashMap<String, usize>,
    pub(crate) line: u64,
    record: csv::StringRecord,
}

impl Row<'_> {
    pub(crate) fn error(&self, column: &str, value: &str, what: impl Display) -> ReportError {
        let message = format!("column `{column}`: `{value}` {what}");
        ReportError::input(self.path, Some(self.line), message)
    }

    pub(crate) fn str(&self, column: &str) -> &str {
        // Open checked that every column asked for is in the header, and rows that every
        // record is as wide as the header.
        self.record[self.index[column]].trim()
    }

    pub(crate) fn parse<T: std::str::FromStr>(&self, column: &str, what: &str) -> Result<T> {
        let value = self.str(column);
        value
            .parse()
            .map_err(|_| self.error(column, value, format_args!("is not {what}")))
    }

    pub(crate) fn int(&self, column: &str) -> Result<u64> {
        self.parse(column, "an integer")
    }

    pub(crate) fn float(&self, column: &str) -> Result<f64> {
        self.parse(column, "a number")
    }

    pub(crate) fn opt_int(&self, column: &str) -> Result<Option<u64>> {
        match self.str(column) {
            "" => Ok(None),
            _ => self.int(column).map(Some),
        }
    }

    /// An optional column's value: empty when the file has no such column.
    pub(crate) fn opt_str(&self, column: &str) -> &str {
        self.index
            .get(column)
            .map_or("", |&i| self.record[i].trim())
    }

    pub(crate) fn opt_float(&self, column: &str) -> Result<Option<f64>> {
        match self.opt_str(column) {
            "" => Ok(None),
            v => v
                .parse()
                .map(Some)
                .map_err(|_| self.error(column, v, "is not a number")),
        }
    }

    pub(crate) fn opt_bool(&self, column: &str) -> Result<Option<bool>> {
        match self.opt_str(column) {
            "" => Ok(None),
            "true" => Ok(Some(true)),
            "false" => Ok(Some(false)),
            v => Err(self.error(column, v, "is not `true`, `false` or empty")),
        }
    }

    /// `1x:540 2x:900 4x:1440`: EMC per budget multiplier (powers of two, increasing).
    pub(crate) fn budgets(&self, column: &str) -> Result<Vec<(u64, u64)>> {
        let v = self.opt_str(column);
        let bad = || self.error(column, v, "is not like `1x:540 2x:900 4x:1440`");
        let mut out: Vec<(u64, u64)> = Vec::new();
        for item in v.split_whitespace() {
            let (m, emc) = item.split_once("x:").ok_or_else(bad)?;
            let (m, emc): (u64, u64) = (
                m.parse().map_err(|_| bad())?,
                emc.parse().map_err(|_| bad())?,
            );
            if !m.is_power_of_two() || out.last().is_some_and(|&(prev, _)| prev >= m) {
                return Err(self.error(
                    column,
                    v,
                    "has budget multipliers that are not increasing powers of two",
                ));
            }
            out.push((m, emc));
        }
        Ok(out)
    }

    /// `lo-hi`, `sharp fit|failure` or empty.
    pub(crate) fn band(&self, column: &str) -> Result<Option<Band>> {
        let v = self.opt_str(column);
        let bad = || self.error(column, v, "is not `LO-HI`, `sharp FIT|FAILURE` or empty");
        let pair = |s: &str, sep: char| -> Result<(u64, u64)> {
            let (a, b) = s.split_once(sep).ok_or_else(bad)?;
            Ok((
                a.trim().parse().map_err(|_| bad())?,
                b.trim().parse().map_err(|_| bad())?,
            ))
        };
        if v.is_empty() {
            return Ok(None);
        }
        Ok(Some(match v.strip_prefix("sharp ") {
            Some(rest) => {
                let (fit, failure) = pair(rest, '|')?;
                Band::Sharp { fit, failure }
            }
            None => {
                let (lo, hi) = pair(v, '-')?;
                Band::Overlap { lo, hi }
            }
        }))
    }

    pub(crate) fn bool(&self, column: &str) -> Result<bool> {
        match self.str(column) {
            "true" => Ok(true),
            "false" => Ok(false),
            v => Err(self.error(column, v, "is not `true` or `false`")),
        }
    }

    pub(crate) fn hash(&self, column: &str) -> Result<String> {
        let v = self.str(column);
        if v.len() != 16 || !v.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(self.error(column, v, "is not 16 hex digits"));
        }
        Ok(v.to_string())
    }

    pub(crate) fn nonempty(&self, column: &str) -> Result<String> {
        match self.str(column) {
            "" => Err(self.error(column, "", "is empty")),
            v => Ok(v.to_string()),
        }
    }
}
