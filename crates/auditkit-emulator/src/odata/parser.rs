//! The `$filter` parser: precedence climbing over the lexer's tokens, type checking as it goes.

use super::eval::{CmpOp, Expr, Filter, Func, Literal};
use super::lexer::{Tok, Token, lex};
use super::property::{Kind, lookup};
use super::{MAX_FILTER_DEPTH, ODataError, check_length};

/// A parsed expression with what the type checker and the depth limit need.
#[derive(Debug)]
pub(super) struct Node {
    expr: Expr,
    kind: Kind,
    depth: usize,
    pos: usize,
    /// How to name this operand in a message.
    describe: String,
}

const OPERAND_EXPECTED: &str = "expected a property, a literal, a function or '('";

pub(super) struct Parser {
    pub(super) tokens: Vec<Token>,
    pub(super) next: usize,
    /// Open parentheses and function calls around the current point.
    pub(super) nesting: usize,
}

impl Parser {
    fn peek(&self) -> &Tok {
        self.tokens.get(self.next).map_or(&Tok::End, |t| &t.tok)
    }

    fn peek_token(&self) -> Option<&Token> {
        self.tokens.get(self.next)
    }

    fn peek_pos(&self) -> usize {
        self.tokens
            .get(self.next)
            .or(self.tokens.last())
            .map_or(0, |t| t.pos)
    }

    fn peek_keyword(&self) -> Option<&str> {
        match self.peek() {
            Tok::Ident(word) => Some(word.as_str()),
            _ => None,
        }
    }

    fn advance(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.next).cloned();
        if token.is_some() {
            self.next += 1;
        }
        token
    }

    /// An "unexpected …" error at the next token.
    fn unexpected(&self, expected: &str) -> ODataError {
        let Some(token) = self.peek_token().filter(|t| t.tok != Tok::End) else {
            return ODataError::invalid_hint("unexpected end of filter", self.peek_pos(), expected);
        };
        let mut hint = expected.to_owned();
        if let Tok::Ident(word) = &token.tok {
            let lower = word.to_ascii_lowercase();
            if lower != *word
                && (is_keyword(&lower) || matches!(lower.as_str(), "true" | "false" | "null"))
            {
                hint = format!("{expected} (keywords are lowercase: '{lower}')");
            }
        }
        ODataError::invalid_hint(
            format!("unexpected token '{}'", token.text),
            token.pos,
            hint,
        )
    }

    fn enter(&mut self, position: usize) -> Result<(), ODataError> {
        self.nesting += 1;
        if self.nesting > MAX_FILTER_DEPTH {
            return Err(ODataError::TooDeep {
                position,
                limit: MAX_FILTER_DEPTH,
            });
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.nesting = self.nesting.saturating_sub(1);
    }

    fn node(
        expr: Expr,
        kind: Kind,
        depth: usize,
        pos: usize,
        describe: String,
    ) -> Result<Node, ODataError> {
        if depth > MAX_FILTER_DEPTH {
            return Err(ODataError::TooDeep {
                position: pos,
                limit: MAX_FILTER_DEPTH,
            });
        }
        Ok(Node {
            expr,
            kind,
            depth,
            pos,
            describe,
        })
    }

    fn require_bool(node: &Node, operator: &str, position: usize) -> Result<(), ODataError> {
        if node.kind == Kind::Bool {
            return Ok(());
        }
        Err(ODataError::invalid_hint(
            format!(
                "'{operator}' needs a boolean operand, but {} is {}",
                node.describe,
                node.kind.describe()
            ),
            position,
            "write a comparison such as category eq 'x', in parentheses after not",
        ))
    }

    /// `and` and `or`: `next` parses the operands.
    fn parse_logical(
        &mut self,
        keyword: &str,
        next: fn(&mut Self) -> Result<Node, ODataError>,
    ) -> Result<Node, ODataError> {
        let first = next(self)?;
        if self.peek_keyword() != Some(keyword) {
            return Ok(first);
        }
        let pos = first.pos;
        let mut depth = first.depth;
        let mut terms = Vec::new();
        let mut pending = Some(first);
        while self.peek_keyword() == Some(keyword) {
            let op_pos = self.peek_pos();
            self.advance();
            let right = next(self)?;
            if let Some(left) = pending.take() {
                Self::require_bool(&left, keyword, op_pos)?;
                depth = depth.max(left.depth);
                terms.push(left.expr);
            }
            Self::require_bool(&right, keyword, op_pos)?;
            depth = depth.max(right.depth);
            terms.push(right.expr);
        }
        let expr = if keyword == "and" {
            Expr::And(terms)
        } else {
            Expr::Or(terms)
        };
        Self::node(expr, Kind::Bool, depth + 1, pos, "an expression".into())
    }

    pub(super) fn parse_or(&mut self) -> Result<Node, ODataError> {
        self.parse_logical("or", Self::parse_and)
    }

    fn parse_and(&mut self) -> Result<Node, ODataError> {
        self.parse_logical("and", Self::parse_equality)
    }

    fn parse_equality(&mut self) -> Result<Node, ODataError> {
        self.parse_comparison(true)
    }

    fn parse_relational(&mut self) -> Result<Node, ODataError> {
        self.parse_comparison(false)
    }

    fn parse_comparison(&mut self, equality: bool) -> Result<Node, ODataError> {
        let operand = |p: &mut Self| {
            if equality {
                p.parse_relational()
            } else {
                p.parse_unary()
            }
        };
        let mut left = operand(self)?;
        loop {
            let Some(op) = self.peek_keyword().and_then(CmpOp::from_keyword) else {
                return Ok(left);
            };
            if op.is_equality() != equality {
                return Ok(left);
            }
            let op_pos = self.peek_pos();
            self.advance();
            let right = operand(self)?;
            check_comparison(op, &left, &right, op_pos)?;
            let depth = left.depth.max(right.depth) + 1;
            let pos = left.pos;
            left = Self::node(
                Expr::Compare(op, Box::new(left.expr), Box::new(right.expr)),
                Kind::Bool,
                depth,
                pos,
                "a comparison".into(),
            )?;
        }
    }

    /// `not` chains are read in a loop, so they cost no recursion; each adds a tree level.
    fn parse_unary(&mut self) -> Result<Node, ODataError> {
        let mut nots = Vec::new();
        while self.peek_keyword() == Some("not") {
            nots.push(self.peek_pos());
            self.advance();
        }
        let mut node = self.parse_primary()?;
        while let Some(pos) = nots.pop() {
            Self::require_bool(&node, "not", pos)?;
            let depth = node.depth + 1;
            node = Self::node(
                Expr::Not(Box::new(node.expr)),
                Kind::Bool,
                depth,
                pos,
                "a negation".into(),
            )?;
        }
        Ok(node)
    }

    fn expect_close(&mut self, open_pos: usize, what: &str) -> Result<(), ODataError> {
        match self.peek() {
            Tok::RParen => {
                self.advance();
                Ok(())
            }
            Tok::End => Err(ODataError::invalid(
                format!("missing ')' for the {what} opened at position {open_pos}"),
                self.peek_pos(),
            )),
            _ => Err(self.unexpected("expected ')', 'and' or 'or'")),
        }
    }

    fn parse_primary(&mut self) -> Result<Node, ODataError> {
        let Some(token) = self.peek_token().cloned() else {
            return Err(self.unexpected(OPERAND_EXPECTED));
        };
        let literal = |lit: Literal| {
            let kind = lit.kind();
            Self::node(Expr::Literal(lit), kind, 1, token.pos, token.text.clone())
        };
        match &token.tok {
            Tok::LParen => {
                self.advance();
                self.enter(token.pos)?;
                let inner = self.parse_or()?;
                self.expect_close(token.pos, "'('")?;
                self.leave();
                Ok(inner)
            }
            Tok::Str(s) => {
                self.advance();
                literal(Literal::Str(s.clone()))
            }
            Tok::Int(n) => {
                self.advance();
                literal(Literal::Int(*n))
            }
            Tok::DateTime(at) => {
                self.advance();
                literal(Literal::DateTime(*at))
            }
            Tok::Guid(id) => {
                self.advance();
                literal(Literal::Guid(*id))
            }
            Tok::Ident(word) => match word.as_str() {
                "true" => {
                    self.advance();
                    literal(Literal::Bool(true))
                }
                "false" => {
                    self.advance();
                    literal(Literal::Bool(false))
                }
                "null" => {
                    self.advance();
                    literal(Literal::Null)
                }
                w if is_keyword(w) => Err(self.unexpected(OPERAND_EXPECTED)),
                _ => {
                    self.advance();
                    if self.peek() == &Tok::LParen {
                        self.parse_call(&token)
                    } else {
                        self.parse_path(&token)
                    }
                }
            },
            Tok::RParen | Tok::Comma | Tok::Slash | Tok::End => {
                Err(self.unexpected(OPERAND_EXPECTED))
            }
        }
    }

    /// A property path; `first` (an identifier) is already consumed.
    fn parse_path(&mut self, first: &Token) -> Result<Node, ODataError> {
        let mut name = first.text.clone();
        let mut end = first.pos + first.text.chars().count();
        // Segments are written without spaces: `actor/userPrincipalName`.
        while matches!(self.peek_token(), Some(t) if t.tok == Tok::Slash && t.pos == end) {
            self.advance();
            let segment = match self.peek_token() {
                Some(Token {
                    tok: Tok::Ident(segment),
                    pos,
                    ..
                }) if *pos == end + 1 && !is_keyword(segment) => segment.clone(),
                _ => {
                    return Err(self.unexpected("expected a property name right after '/'"));
                }
            };
            self.advance();
            end += 1 + segment.chars().count();
            name.push('/');
            name.push_str(&segment);
        }
        let path = lookup(&name, first.pos)?;
        Self::node(Expr::Property(path), path.kind, 1, first.pos, name)
    }

    /// `name(a, b)`; `name` is consumed and the next token is `(`.
    fn parse_call(&mut self, name: &Token) -> Result<Node, ODataError> {
        let Some(func) = Func::from_name(&name.text) else {
            return Err(ODataError::invalid_hint(
                format!("unknown function '{}'", name.text),
                name.pos,
                format!("supported: {}", Func::NAMES.join(", ")),
            ));
        };
        self.advance(); // (
        self.enter(name.pos)?;
        let mut args = Vec::new();
        loop {
            args.push(self.parse_or()?);
            match self.peek() {
                Tok::Comma => {
                    self.advance();
                }
                _ => break,
            }
        }
        self.expect_close(name.pos, &format!("call to '{}'", func.name()))?;
        self.leave();
        let count = args.len();
        let mut args = args.into_iter();
        let (Some(haystack), Some(needle), None) = (args.next(), args.next(), args.next()) else {
            return Err(ODataError::invalid(
                format!("'{}' takes 2 arguments, not {count}", func.name()),
                name.pos,
            ));
        };
        for (index, arg) in [&haystack, &needle].into_iter().enumerate() {
            if arg.kind != Kind::Str {
                return Err(ODataError::invalid(
                    format!(
                        "'{}' needs string arguments, but argument {} ({}) is {}",
                        func.name(),
                        index + 1,
                        arg.describe,
                        arg.kind.describe()
                    ),
                    arg.pos,
                ));
            }
        }
        let depth = haystack.depth.max(needle.depth) + 1;
        Self::node(
            Expr::Call(func, Box::new(haystack.expr), Box::new(needle.expr)),
            Kind::Bool,
            depth,
            name.pos,
            format!("{}(…)", func.name()),
        )
    }
}

fn is_keyword(word: &str) -> bool {
    matches!(
        word,
        "eq" | "ne" | "gt" | "ge" | "lt" | "le" | "and" | "or" | "not"
    )
}

/// Refuses comparisons Graph would refuse: different kinds, order operators on null,
/// booleans and complex values.
fn check_comparison(op: CmpOp, left: &Node, right: &Node, pos: usize) -> Result<(), ODataError> {
    let (l, r) = (left.kind, right.kind);
    if l == Kind::Null || r == Kind::Null {
        if op.is_equality() {
            return Ok(());
        }
        return Err(ODataError::invalid_hint(
            format!("'{}' cannot compare with null", op.keyword()),
            pos,
            "use eq null or ne null",
        ));
    }
    if l != r {
        let hint = match (l, r) {
            (Kind::DateTime, Kind::Str) | (Kind::Str, Kind::DateTime) => {
                Some("write date-times unquoted, e.g. 2022-08-22 or 2025-03-24T15:14:04Z")
            }
            (Kind::Guid, Kind::Str) | (Kind::Str, Kind::Guid) => {
                Some("guids are unquoted and strings are quoted: 'text'")
            }
            (Kind::Str, Kind::Int) | (Kind::Int, Kind::Str) => Some("quote strings: 'text'"),
            _ => None,
        };
        let message = format!(
            "cannot compare {} ({}) with {} ({}) using '{}'",
            left.describe,
            l.describe(),
            right.describe,
            r.describe(),
            op.keyword()
        );
        return Err(match hint {
            Some(hint) => ODataError::invalid_hint(message, pos, hint),
            None => ODataError::invalid(message, pos),
        });
    }
    if matches!(l, Kind::Complex) {
        return Err(ODataError::invalid_hint(
            format!("{} is a complex value", left.describe),
            pos,
            "compare one of its properties, e.g. actor/userPrincipalName, or use eq null",
        ));
    }
    if l == Kind::Bool && !op.is_equality() {
        return Err(ODataError::invalid(
            format!("'{}' cannot order booleans; use eq or ne", op.keyword()),
            pos,
        ));
    }
    Ok(())
}

/// Parses a `$filter` value (already percent-decoded). Note that a `+` in an offset such as
/// `+02:00` must reach the server as `%2B`: a literal `+` in a query string decodes to a space.
pub fn parse_filter(text: &str) -> Result<Filter, ODataError> {
    check_length("$filter", text)?;
    let tokens = lex(text)?;
    let mut parser = Parser {
        tokens,
        next: 0,
        nesting: 0,
    };
    let root = parser.parse_or()?;
    if parser.peek() != &Tok::End {
        return Err(parser.unexpected(if root.kind == Kind::Bool {
            "expected 'and', 'or' or the end of the filter"
        } else {
            "expected an operator: eq, ne, gt, ge, lt or le"
        }));
    }
    if root.kind != Kind::Bool {
        return Err(ODataError::invalid_hint(
            format!(
                "the filter must be true or false, but {} is {}",
                root.describe,
                root.kind.describe()
            ),
            root.pos,
            "write a comparison such as category eq 'x'",
        ));
    }
    Ok(Filter { root: root.expr })
}
