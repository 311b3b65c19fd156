use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures::FutureExt;

use super::*;
use crate::auth::Call;

/// A directory held in memory, counting how often it is asked.
#[derive(Default)]
struct Fixed {
    grants: Mutex<Vec<(String, Grant)>>,
    /// (person, group)
    members: Vec<(String, Scope)>,
    asked: AtomicUsize,
}

impl Directory for Arc<Fixed> {
    fn grants(
        &self,
        _tenant: TenantId,
        subject: String,
    ) -> BoxFuture<'static, AppResult<Vec<Grant>>> {
        self.asked.fetch_add(1, Ordering::SeqCst);
        let grants = self
            .grants
            .lock()
            .unwrap()
            .iter()
            .filter(|(s, _)| *s == subject)
            .map(|(_, g)| g.clone())
            .collect();
        async move { Ok(grants) }.boxed()
    }

    fn groups_holding(
        &self,
        _tenant: TenantId,
        person: String,
        groups: Vec<Scope>,
    ) -> BoxFuture<'static, AppResult<Vec<Scope>>> {
        self.asked.fetch_add(1, Ordering::SeqCst);
        let held = groups
            .into_iter()
            .filter(|g| self.members.contains(&(person.clone(), g.clone())))
            .collect();
        async move { Ok(held) }.boxed()
    }
}

fn principal(subject: &str, tenant: &str, role: Role) -> Principal {
    Principal {
        subject: subject.into(),
        tenant_id: TenantId::parse(tenant).unwrap(),
        roles: [role].into_iter().collect(),
        call: Call::default(),
    }
}

fn grant(role: ScopedRole, scope: Scope) -> Grant {
    Grant { role, scope }
}

fn setup(grants: Vec<(&str, Grant)>, members: Vec<(&str, Scope)>) -> (Arc<Fixed>, Access) {
    let fixed = Arc::new(Fixed {
        grants: Mutex::new(
            grants
                .into_iter()
                .map(|(s, g)| (s.to_string(), g))
                .collect(),
        ),
        members: members
            .into_iter()
            .map(|(p, g)| (p.to_string(), g))
            .collect(),
        asked: AtomicUsize::new(0),
    });
    let access = Access::new(Arc::new(fixed.clone()), Duration::from_secs(60));
    (fixed, access)
}

#[tokio::test]
async fn token_roles_are_tenant_wide_bindings() {
    let (fixed, access) = setup(vec![], vec![]);
    let admin = principal("ann", "acme", Role::Admin);
    let instructor = principal("ivy", "acme", Role::Instructor);
    let learner = principal("leo", "acme", Role::Learner);
    assert!(
        access
            .allows(&admin, Permission::Administer, Target::Tenant)
            .await
            .unwrap()
    );
    assert!(
        access
            .allows(&instructor, Permission::Grade, Target::Person("x"))
            .await
            .unwrap()
    );
    assert!(
        !access
            .allows(
                &instructor,
                Permission::Administer,
                Target::Categories(&["c".into()])
            )
            .await
            .unwrap()
    );
    assert!(
        !access
            .allows(&learner, Permission::ReadRecords, Target::Person("x"))
            .await
            .unwrap()
    );
    assert!(
        !access
            .bound_anywhere(&learner, Permission::Grade)
            .await
            .unwrap()
    );
    // Tenant-wide roles never ask the directory.
    access
        .allows(&admin, Permission::ReadRecords, Target::Person("x"))
        .await
        .unwrap();
    assert_eq!(
        fixed.asked.load(Ordering::SeqCst),
        2,
        "only the instructor's Administer and the learner's two questions (one cached)"
    );
}

#[tokio::test]
async fn a_category_binding_reaches_its_subtree_only() {
    let (_, access) = setup(
        vec![(
            "cat",
            grant(ScopedRole::Admin, Scope::Category("sales".into())),
        )],
        vec![],
    );
    let who = principal("cat", "acme", Role::Learner);
    let below: Vec<String> = vec!["emea-sales".into(), "sales".into(), "root".into()];
    let beside: Vec<String> = vec!["engineering".into(), "root".into()];
    assert!(
        access
            .allows(&who, Permission::Administer, Target::Categories(&below))
            .await
            .unwrap()
    );
    assert!(
        !access
            .allows(&who, Permission::Administer, Target::Categories(&beside))
            .await
            .unwrap()
    );
    assert!(
        !access
            .allows(&who, Permission::Administer, Target::Tenant)
            .await
            .unwrap()
    );
    assert!(
        access
            .bound_anywhere(&who, Permission::Administer)
            .await
            .unwrap()
    );
    // The door asks about stored bindings only: a service identity holds none.
    let service = principal("cat", "acme", Role::Service);
    assert!(
        !access
            .bound_anywhere(&service, Permission::Administer)
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn roles_grant_only_their_permissions() {
    let dept = Scope::Department("Finance".into());
    let (_, access) = setup(
        vec![
            ("viewer", grant(ScopedRole::ReportingViewer, dept.clone())),
            ("grader", grant(ScopedRole::Grader, dept.clone())),
        ],
        vec![("fay", dept.clone())],
    );
    let viewer = principal("viewer", "acme", Role::Learner);
    let grader = principal("grader", "acme", Role::Learner);
    assert!(
        access
            .allows(&viewer, Permission::ReadRecords, Target::Person("fay"))
            .await
            .unwrap()
    );
    assert!(
        !access
            .allows(&viewer, Permission::Grade, Target::Person("fay"))
            .await
            .unwrap()
    );
    assert!(
        !access
            .allows(&viewer, Permission::Administer, Target::Person("fay"))
            .await
            .unwrap()
    );
    assert!(
        access
            .allows(&grader, Permission::Grade, Target::Person("fay"))
            .await
            .unwrap()
    );
    assert!(
        !access
            .allows(&grader, Permission::ReadRecords, Target::Person("fay"))
            .await
            .unwrap()
    );
    assert!(
        access
            .allows(&viewer, Permission::ReadRecords, Target::Group(&dept))
            .await
            .unwrap()
    );
    let other = Scope::Department("Sales".into());
    assert!(
        !access
            .allows(&viewer, Permission::ReadRecords, Target::Group(&other))
            .await
            .unwrap()
    );
    assert!(
        !access
            .allows(&viewer, Permission::ReadRecords, Target::Person("sam"))
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn answers_are_cached_per_tenant_and_forgotten_on_change() {
    let (fixed, access) = setup(
        vec![(
            "cat",
            grant(ScopedRole::Admin, Scope::Category("sales".into())),
        )],
        vec![],
    );
    let acme = principal("cat", "acme", Role::Learner);
    let globex = principal("cat", "globex", Role::Learner);
    let chain = vec!["sales".to_string()];
    for _ in 0..10 {
        assert!(
            access
                .allows(&acme, Permission::Administer, Target::Categories(&chain))
                .await
                .unwrap()
        );
    }
    assert_eq!(
        fixed.asked.load(Ordering::SeqCst),
        1,
        "asked once, then cached"
    );
    // The same subject in another tenant is another key: asked again, never served acme's.
    access
        .allows(&globex, Permission::Administer, Target::Categories(&chain))
        .await
        .unwrap();
    assert_eq!(fixed.asked.load(Ordering::SeqCst), 2);
    // The binding goes; the directory forgets it: refused at once.
    fixed.grants.lock().unwrap().clear();
    access.forget(&acme.tenant_id, "cat").await;
    assert!(
        !access
            .allows(&acme, Permission::Administer, Target::Categories(&chain))
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn cached_answers_expire() {
    let fixed = Arc::new(Fixed::default());
    fixed
        .grants
        .lock()
        .unwrap()
        .push(("cat".into(), grant(ScopedRole::Admin, Scope::Tenant)));
    let access = Access::new(Arc::new(fixed.clone()), Duration::from_millis(50));
    let who = principal("cat", "acme", Role::Learner);
    assert!(
        access
            .allows(&who, Permission::Administer, Target::Tenant)
            .await
            .unwrap()
    );
    fixed.grants.lock().unwrap().clear();
    tokio::time::sleep(Duration::from_millis(120)).await;
    assert!(
        !access
            .allows(&who, Permission::Administer, Target::Tenant)
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn a_rebound_viewer_is_judged_by_the_new_binding_at_once() {
    let finance = Scope::Department("Finance".into());
    let sales = Scope::Department("Sales".into());
    let (fixed, access) = setup(
        vec![("vera", grant(ScopedRole::ReportingViewer, finance.clone()))],
        vec![("fay", finance), ("sam", sales.clone())],
    );
    let vera = principal("vera", "acme", Role::Learner);
    let reads = |person: &'static str| {
        let (access, vera) = (access.clone(), vera.clone());
        async move {
            access
                .allows(&vera, Permission::ReadRecords, Target::Person(person))
                .await
                .unwrap()
        }
    };
    assert!(reads("fay").await);
    assert!(!reads("sam").await);
    // Moved to Sales: fay's cached membership answered a question about Finance, which the
    // new binding no longer asks.
    *fixed.grants.lock().unwrap() = vec![(
        "vera".to_string(),
        grant(ScopedRole::ReportingViewer, sales),
    )];
    access.forget(&vera.tenant_id, "vera").await;
    assert!(!reads("fay").await);
    assert!(reads("sam").await);
}

#[tokio::test]
async fn an_answer_in_use_is_asked_again_before_it_expires() {
    let fixed = Arc::new(Fixed::default());
    fixed
        .grants
        .lock()
        .unwrap()
        .push(("cat".into(), grant(ScopedRole::Admin, Scope::Tenant)));
    let access = Access::new(Arc::new(fixed.clone()), Duration::from_secs(1));
    let who = principal("cat", "acme", Role::Learner);
    let allowed = || async {
        access
            .allows(&who, Permission::Administer, Target::Tenant)
            .await
            .unwrap()
    };
    assert!(allowed().await);
    tokio::time::sleep(Duration::from_millis(800)).await;
    fixed.grants.lock().unwrap().clear();
    // Past three quarters of its life: served as it is, and asked again in the background.
    assert!(allowed().await);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(fixed.asked.load(Ordering::SeqCst), 2);
    // The new answer is in, before the first one's lifetime ended.
    assert!(!allowed().await);
}
