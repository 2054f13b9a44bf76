//! Retrieval for question answering over many documents, as LangChain's
//! `RecursiveCharacterTextSplitter`, a lexical retriever and `RetrievalQA` (chain type "stuff"):
//!
//! - [`TextSplitter`] cuts documents into chunks of at most a number of characters, with overlap,
//!   preferring paragraph, then line, then word boundaries; each chunk keeps its document's
//!   metadata (its `source`) and gets its position (`chunk`).
//! - [`Bm25Retriever`] ranks chunks for a question with Okapi BM25 over lower-cased words: no
//!   embedding model, deterministic, and small enough for every Lambda zip (hence written here
//!   rather than a crate with stemmers and stop-word lists).
//! - [`RetrievalQaChain`] asks the model over the top-k chunks, each introduced by its source, and
//!   returns the answer with the sources it was given.

use super::error::ChainError;
use super::llm::Llm;
use super::qa::{Document, StuffQaChain};
use super::stream::TokenStream;
use std::collections::{BTreeSet, HashMap};

/// The metadata key naming where a document comes from (a file or object name).
pub const SOURCE_KEY: &str = "source";
/// The metadata key [`TextSplitter`] sets to a chunk's position in its document (0, 1, ...).
pub const CHUNK_KEY: &str = "chunk";

/// Where [`TextSplitter`] prefers to cut, best first; the last resort is between characters.
const SEPARATORS: [&str; 3] = ["\n\n", "\n", " "];

/// Splits documents into chunks of at most `chunk_size` characters, the next chunk starting
/// `chunk_overlap` characters before the previous one ended (rounded to a boundary), so a sentence
/// cut in two is whole in one of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TextSplitter {
    chunk_size: usize,
    chunk_overlap: usize,
}

impl TextSplitter {
    /// Chunks of at most `chunk_size` characters (at least 1) overlapping by `chunk_overlap`
    /// characters (less than `chunk_size`; larger values are reduced to half of it).
    pub fn new(chunk_size: usize, chunk_overlap: usize) -> Self {
        let chunk_size = chunk_size.max(1);
        let chunk_overlap = if chunk_overlap >= chunk_size {
            chunk_size / 2
        } else {
            chunk_overlap
        };
        Self {
            chunk_size,
            chunk_overlap,
        }
    }

    /// The chunks of `text`, in order, each trimmed and none empty. Joined without their overlaps
    /// they hold every non-whitespace character of `text`.
    pub fn split_text(&self, text: &str) -> Vec<String> {
        let chars: Vec<(usize, char)> = text.char_indices().collect();
        let mut chunks = Vec::new();
        let mut start = 0;
        while start < chars.len() {
            let hard_end = (start + self.chunk_size).min(chars.len());
            let end = if hard_end == chars.len() {
                hard_end
            } else {
                self.boundary_before(text, &chars, start, hard_end)
            };
            let byte = |index: usize| chars.get(index).map_or(text.len(), |(byte, _)| *byte);
            let chunk = text[byte(start)..byte(end)].trim();
            if !chunk.is_empty() {
                chunks.push(chunk.to_owned());
            }
            if end == chars.len() {
                break;
            }
            // The next chunk starts `chunk_overlap` characters back, at a word start, but always
            // after this one's start, so the split ends.
            let back = end.saturating_sub(self.chunk_overlap).max(start + 1);
            start = (back..end)
                .find(|&index| index == 0 || chars[index - 1].1.is_whitespace())
                .unwrap_or(end);
        }
        chunks
    }

    /// The best place to cut before `hard_end` (a char index): after the last separator in the
    /// chunk's second half, best separator first; else at `hard_end`.
    fn boundary_before(
        &self,
        text: &str,
        chars: &[(usize, char)],
        start: usize,
        hard_end: usize,
    ) -> usize {
        let from = start + (hard_end - start) / 2;
        let window = &text[chars[from].0..chars[hard_end].0];
        for separator in SEPARATORS {
            if let Some(at) = window.rfind(separator) {
                let cut_byte = chars[from].0 + at + separator.len();
                return chars.partition_point(|(byte, _)| *byte < cut_byte);
            }
        }
        hard_end
    }

    /// Each document's chunks as documents with its metadata and [`CHUNK_KEY`].
    pub fn split_documents(&self, documents: &[Document]) -> Vec<Document> {
        documents
            .iter()
            .flat_map(|document| {
                self.split_text(&document.page_content)
                    .into_iter()
                    .enumerate()
                    .map(|(index, chunk)| {
                        let mut metadata = document.metadata.clone();
                        metadata.insert(CHUNK_KEY.to_owned(), index.to_string());
                        Document {
                            page_content: chunk,
                            metadata,
                        }
                    })
            })
            .collect()
    }
}

/// The words of `text` for ranking: lower-cased runs of letters and digits.
fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// Okapi BM25's term-frequency saturation.
const K1: f64 = 1.5;
/// Okapi BM25's length normalisation.
const B: f64 = 0.75;

/// Ranks documents for a query with Okapi BM25 (k1 = 1.5, b = 0.75) over their words.
#[derive(Debug, Clone)]
pub struct Bm25Retriever {
    documents: Vec<Document>,
    /// Per document: word → count.
    counts: Vec<HashMap<String, u32>>,
    lengths: Vec<usize>,
    /// Word → how many documents have it.
    document_frequency: HashMap<String, u32>,
    average_length: f64,
}

impl Bm25Retriever {
    /// A retriever over `documents` (usually [`TextSplitter`] chunks).
    pub fn new(documents: Vec<Document>) -> Self {
        let mut counts = Vec::with_capacity(documents.len());
        let mut lengths = Vec::with_capacity(documents.len());
        let mut document_frequency: HashMap<String, u32> = HashMap::new();
        for document in &documents {
            let words = words(&document.page_content);
            lengths.push(words.len());
            let mut count: HashMap<String, u32> = HashMap::new();
            for word in words {
                *count.entry(word).or_default() += 1;
            }
            for word in count.keys() {
                *document_frequency.entry(word.clone()).or_default() += 1;
            }
            counts.push(count);
        }
        let average_length = if lengths.is_empty() {
            0.0
        } else {
            lengths.iter().sum::<usize>() as f64 / lengths.len() as f64
        };
        Self {
            documents,
            counts,
            lengths,
            document_frequency,
            average_length,
        }
    }

    /// How many documents it ranks.
    pub fn len(&self) -> usize {
        self.documents.len()
    }

    /// Whether it has no documents.
    pub fn is_empty(&self) -> bool {
        self.documents.is_empty()
    }

    /// The BM25 score of document `index` for the query's distinct `terms`.
    fn score(&self, index: usize, terms: &BTreeSet<String>) -> f64 {
        let total = self.documents.len() as f64;
        let length = self.lengths[index] as f64;
        let average = self.average_length.max(f64::MIN_POSITIVE);
        terms
            .iter()
            .filter_map(|term| {
                let frequency = f64::from(*self.counts[index].get(term)?);
                let containing = f64::from(*self.document_frequency.get(term)?);
                let idf = ((total - containing + 0.5) / (containing + 0.5) + 1.0).ln();
                Some(
                    idf * frequency * (K1 + 1.0)
                        / (frequency + K1 * (1.0 - B + B * length / average)),
                )
            })
            .sum()
    }

    /// The (at most) `k` documents that share words with `query`, best first (ties in the
    /// order given), with their scores.
    pub fn retrieve_scored(&self, query: &str, k: usize) -> Vec<(&Document, f64)> {
        let terms: BTreeSet<String> = words(query).into_iter().collect();
        let mut scored: Vec<(usize, f64)> = (0..self.documents.len())
            .map(|index| (index, self.score(index, &terms)))
            .filter(|(_, score)| *score > 0.0)
            .collect();
        scored.sort_by(|(a_index, a), (b_index, b)| b.total_cmp(a).then(a_index.cmp(b_index)));
        scored
            .into_iter()
            .take(k)
            .map(|(index, score)| (&self.documents[index], score))
            .collect()
    }

    /// The (at most) `k` documents that share words with `query`, best first.
    pub fn retrieve(&self, query: &str, k: usize) -> Vec<Document> {
        self.retrieve_scored(query, k)
            .into_iter()
            .map(|(document, _)| document.clone())
            .collect()
    }
}

/// An answer of [`RetrievalQaChain`] and the sources of the chunks it was given, in rank order,
/// each once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrievalAnswer {
    /// The model's answer, trimmed.
    pub answer: String,
    /// The `source` metadata of the chunks in the prompt.
    pub sources: Vec<String>,
}

/// Answers a question from the chunks most relevant to it: [`Bm25Retriever`] picks the top `k`
/// (default 4), each goes into the prompt introduced by its source (`[source: guide.txt]`), and
/// a [`StuffQaChain`] asks the model.
///
/// ```
/// use pluto::chain::{
///     Bm25Retriever, ChainError, Document, GenerationParams, Llm, RetrievalQaChain, TextSplitter,
/// };
///
/// struct Fixed;
/// impl Llm for Fixed {
///     async fn generate(&self, _: &str, _: &GenerationParams) -> Result<String, ChainError> {
///         Ok(" Croissants.".to_owned())
///     }
/// }
///
/// let documents = [
///     Document::new("Aurora Bakery's best seller is the croissant.").with_metadata("source", "bakery.txt"),
///     Document::new("Pluto is a dwarf planet.").with_metadata("source", "pluto.txt"),
/// ];
/// let retriever = Bm25Retriever::new(TextSplitter::new(500, 50).split_documents(&documents));
/// let qa = RetrievalQaChain::new(Fixed, retriever);
/// let prompt = qa.prompt("What is the bakery's best seller?")?;
/// assert!(prompt.contains("[source: bakery.txt]"));
/// # Ok::<(), ChainError>(())
/// ```
#[derive(Debug, Clone)]
pub struct RetrievalQaChain<L> {
    qa: StuffQaChain<L>,
    retriever: Bm25Retriever,
    k: usize,
}

impl<L: Llm> RetrievalQaChain<L> {
    /// A chain asking `llm` over the 4 best chunks of `retriever`, with the default stuff prompt.
    pub fn new(llm: L, retriever: Bm25Retriever) -> Self {
        Self::with_qa(StuffQaChain::new(llm), retriever)
    }

    /// A chain asking with `qa` (its template and parameters) over the 4 best chunks.
    pub fn with_qa(qa: StuffQaChain<L>, retriever: Bm25Retriever) -> Self {
        Self {
            qa,
            retriever,
            k: 4,
        }
    }

    /// Puts the `k` best chunks (at least 1) into the prompt.
    pub fn with_k(mut self, k: usize) -> Self {
        self.k = k.max(1);
        self
    }

    /// The retriever.
    pub fn retriever(&self) -> &Bm25Retriever {
        &self.retriever
    }

    /// The chunks for `question`, each introduced by its source, and their distinct sources.
    fn context(&self, question: &str) -> (Vec<Document>, Vec<String>) {
        let mut sources: Vec<String> = Vec::new();
        let chunks = self
            .retriever
            .retrieve(question, self.k)
            .into_iter()
            .map(|chunk| {
                let source = chunk
                    .metadata
                    .get(SOURCE_KEY)
                    .cloned()
                    .unwrap_or_else(|| "unnamed".to_owned());
                if !sources.contains(&source) {
                    sources.push(source.clone());
                }
                Document {
                    page_content: format!("[source: {source}]\n{}", chunk.page_content),
                    metadata: chunk.metadata,
                }
            })
            .collect();
        (chunks, sources)
    }

    /// The prompt [`RetrievalQaChain::run`] sends for `question`.
    pub fn prompt(&self, question: &str) -> Result<String, ChainError> {
        let (chunks, _) = self.context(question);
        self.qa.prompt(&chunks, question)
    }

    /// Answers `question` from the best chunks, with their sources.
    pub async fn run(&self, question: &str) -> Result<RetrievalAnswer, ChainError> {
        let (chunks, sources) = self.context(question);
        let answer = self.qa.run(&chunks, question).await?;
        Ok(RetrievalAnswer { answer, sources })
    }

    /// Streams the answer to `question` (as [`StuffQaChain::stream`]), with the sources of the
    /// chunks it was given.
    pub async fn stream(&self, question: &str) -> Result<(TokenStream, Vec<String>), ChainError> {
        let (chunks, sources) = self.context(question);
        let tokens = self.qa.stream(&chunks, question).await?;
        Ok((tokens, sources))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::chain::GenerationParams;
    use std::sync::Mutex;

    #[test]
    fn chunks_respect_the_size_prefer_paragraphs_and_overlap() {
        let text = "First paragraph about croissants and butter.\n\nSecond paragraph about \
                    sourdough bread and its long fermentation.\n\nThird paragraph on prices.";
        let splitter = TextSplitter::new(60, 15);
        let chunks = splitter.split_text(text);
        assert!(chunks.len() >= 3, "{chunks:?}");
        for chunk in &chunks {
            assert!(chunk.chars().count() <= 60, "{chunk:?}");
            assert_eq!(chunk, chunk.trim());
        }
        assert_eq!(chunks[0], "First paragraph about croissants and butter.");
        // Every word of the text is in some chunk, in order.
        let joined = chunks.join(" ");
        for word in text.split_whitespace() {
            assert!(joined.contains(word), "{word} is lost: {chunks:?}");
        }
        // Overlap: consecutive chunks of the long paragraph share a word.
        let shared = chunks.windows(2).any(|pair| {
            pair[0]
                .split_whitespace()
                .any(|word| pair[1].split_whitespace().any(|other| other == word))
        });
        assert!(shared, "{chunks:?}");
    }

    #[test]
    fn splitting_ends_on_any_text_and_keeps_every_character() {
        for text in [
            "",
            "a",
            "ééééééééééé",
            "no-spaces-at-all-in-this-long-text",
            "a b\n\nc\nd e f g",
        ] {
            for (size, overlap) in [(1, 0), (3, 1), (4, 9), (10, 3)] {
                let chunks = TextSplitter::new(size, overlap).split_text(text);
                let kept: String = chunks
                    .concat()
                    .chars()
                    .filter(|c| !c.is_whitespace())
                    .collect();
                let wanted: BTreeSet<char> = text.chars().filter(|c| !c.is_whitespace()).collect();
                for c in wanted {
                    assert!(kept.contains(c), "{text:?} {size}/{overlap}: {chunks:?}");
                }
                assert!(
                    chunks
                        .iter()
                        .all(|chunk| chunk.chars().count() <= size.max(1))
                );
            }
        }
    }

    #[test]
    fn documents_keep_their_source_and_number_their_chunks() {
        let documents =
            [Document::new("one two three four five six").with_metadata(SOURCE_KEY, "a.txt")];
        let chunks = TextSplitter::new(10, 0).split_documents(&documents);
        assert!(chunks.len() > 1);
        for (index, chunk) in chunks.iter().enumerate() {
            assert_eq!(chunk.metadata[SOURCE_KEY], "a.txt");
            assert_eq!(chunk.metadata[CHUNK_KEY], index.to_string());
        }
    }

    fn corpus() -> Vec<Document> {
        vec![
            Document::new("Pluto is a dwarf planet in the Kuiper belt.")
                .with_metadata(SOURCE_KEY, "pluto.txt"),
            Document::new("Aurora Bakery sells croissants; the croissant is its best seller.")
                .with_metadata(SOURCE_KEY, "bakery.txt"),
            Document::new("The bakery opens at seven.").with_metadata(SOURCE_KEY, "hours.txt"),
        ]
    }

    #[test]
    fn bm25_ranks_the_document_with_the_rarer_and_more_frequent_words_first() {
        let retriever = Bm25Retriever::new(corpus());
        let ranked = retriever.retrieve_scored("What is the bakery's best seller?", 3);
        assert_eq!(ranked[0].0.metadata[SOURCE_KEY], "bakery.txt", "{ranked:?}");
        assert!(ranked.windows(2).all(|pair| pair[0].1 >= pair[1].1));
        assert!(retriever.retrieve("quantum chromodynamics", 3).is_empty());
        assert_eq!(retriever.retrieve("croissant pluto bakery", 1).len(), 1);
        assert!(
            Bm25Retriever::new(Vec::new())
                .retrieve("anything", 3)
                .is_empty()
        );
    }

    #[derive(Debug, Default)]
    struct FakeLlm {
        prompts: Mutex<Vec<String>>,
    }

    impl Llm for FakeLlm {
        async fn generate(&self, prompt: &str, _: &GenerationParams) -> Result<String, ChainError> {
            self.prompts.lock().unwrap().push(prompt.to_owned());
            Ok(" The croissant. ".to_owned())
        }
    }

    #[tokio::test]
    async fn the_chain_stuffs_the_best_chunks_with_their_sources() {
        let qa = RetrievalQaChain::new(FakeLlm::default(), Bm25Retriever::new(corpus())).with_k(2);
        let answer = qa.run("What is the bakery's best seller?").await.unwrap();
        assert_eq!(answer.answer, "The croissant.");
        assert_eq!(answer.sources, ["bakery.txt", "hours.txt"]);
        let prompt = qa.qa.llm().prompts.lock().unwrap()[0].clone();
        assert!(
            prompt.contains("[source: bakery.txt]\nAurora Bakery sells croissants"),
            "{prompt}"
        );
        assert!(!prompt.contains("pluto.txt"), "{prompt}");
    }
}
